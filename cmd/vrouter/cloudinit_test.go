package main

import (
	"strings"
	"testing"
)

func TestCloudinitDebURL(t *testing.T) {
	const (
		deb = "https://downloads.example.org/vrouter_1.0.0_amd64.deb"
		sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	)
	code, out, errOut := run("cloudinit", "--deb-url", deb, "--sha256", sum)
	if code != exitOK {
		t.Fatalf("cloudinit --deb-url: code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{deb, sum, "apt-get install -y --no-install-recommends", "/usr/libexec/vrouter/vrouter-setup"} {
		if !strings.Contains(out, want) {
			t.Errorf("user-data lacks %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--deb-url", deb}, "--deb-url needs --sha256"},
		{[]string{"--deb-url", deb, "--url", "https://example.org/vrouter", "--sha256", sum}, "--url and --deb-url exclude each other"},
	} {
		code, _, errOut := run(append([]string{"cloudinit"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("cloudinit %q: code %d (want 2), stderr %q (want %q)", tc.args, code, errOut, tc.want)
		}
	}
}
