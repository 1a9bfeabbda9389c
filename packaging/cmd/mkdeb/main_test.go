package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	// The test binary is a Go binary with build info, as vrouter is.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stdout, stderr strings.Builder
	t.Setenv("SOURCE_DATE_EPOCH", "1764670500")
	if code := run([]string{"--binary", self, "--out", out, "--version", "1.2.3"}, &stdout, &stderr); code != 0 {
		t.Fatalf("mkdeb: exit %d: %s", code, stderr.String())
	}
	want := filepath.Join(out, "vrouter_1.2.3_amd64.deb")
	if strings.TrimSpace(stdout.String()) != want {
		t.Errorf("printed %q, want %q", stdout.String(), want)
	}
	if l, err := os.Readlink(filepath.Join(out, "vrouter.deb")); err != nil || l != "vrouter_1.2.3_amd64.deb" {
		t.Errorf("vrouter.deb -> %q, %v", l, err)
	}
	if ents, _ := filepath.Glob(filepath.Join(out, "*.tmp")); len(ents) > 0 {
		t.Errorf("left %v", ents)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: mkdeb --binary FILE"},
		{[]string{"--binary", self, "extra"}, 2, "usage"},
		{[]string{"--binary", self, "--out", out, "--version", "1.0-1"}, 1, `version "1.0-1"`},
		{[]string{"--binary", filepath.Join(out, "none"), "--out", out, "--version", "1.0"}, 1, "deb: binary"},
	} {
		var so, se strings.Builder
		if code := run(tc.args, &so, &se); code != tc.code || !strings.Contains(se.String(), tc.want) {
			t.Errorf("mkdeb %q: exit %d, stderr %q; want %d and %q", tc.args, code, se.String(), tc.code, tc.want)
		}
	}
}
