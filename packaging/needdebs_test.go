package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDebian is a PATH holding fake dpkg-query, apt-get and id, so that
// need-debs runs without root and without touching the machine's packages.
type fakeDebian struct {
	dir string // the only directory on PATH
	log string // apt-get appends one line per call
}

// newFakeDebian makes the fakes: installed lists the packages dpkg-query
// reports ("name" installed, "name=rc" removed with config left); uid is
// what id -u prints; aptFail names the apt-get action that fails
// ("update", "install" or ""); withApt false leaves apt-get out.
func newFakeDebian(t *testing.T, installed []string, uid string, aptFail string, withApt bool) *fakeDebian {
	t.Helper()
	f := &fakeDebian{dir: t.TempDir()}
	f.log = filepath.Join(f.dir, "apt.log")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte("#!/bin/bash\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("dpkg-query", `
# fake: -W -f=FORMAT PKG...
shift 2
rc=0
for p in "$@"; do
	found=
	for e in `+strings.Join(installed, " ")+`; do
		case $e in
		"$p") printf '%s\tii \n' "$p"; found=1 ;;
		"$p=rc") printf '%s\trc \n' "$p"; found=1 ;;
		esac
	done
	[ -n "$found" ] || { echo "dpkg-query: no packages found matching $p" >&2; rc=1; }
done
exit $rc
`)
	write("id", "echo "+uid+"\n")
	if withApt {
		write("apt-get", `
echo "$*" >>`+f.log+`
for a in "$@"; do [ "$a" = "`+aptFail+`" ] && { echo "E: failed" >&2; exit 100; }; done
exit 0
`)
	}
	return f
}

func (f *fakeDebian) aptCalls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// run runs need-debs with only the fakes on PATH.
func (f *fakeDebian) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("/bin/bash", append([]string{"need-debs"}, args...)...)
	cmd.Env = []string{"PATH=" + f.dir}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestNeedDebs(t *testing.T) {
	const install = "install -y -qq --no-install-recommends"
	for _, tc := range []struct {
		name      string
		installed []string
		uid       string
		aptFail   string
		noApt     bool
		want      []string // packages asked for
		code      int
		apt       []string
		errHas    string
	}{
		{name: "all installed: no apt at all", installed: []string{"radvd", "iproute2"}, uid: "0",
			want: []string{"radvd", "iproute2"}},
		{name: "all installed, not root", installed: []string{"radvd"}, uid: "1000",
			want: []string{"radvd"}},
		{name: "missing ones installed in one go", installed: []string{"iproute2"}, uid: "0",
			want: []string{"radvd", "iproute2", "ndisc6"},
			apt:  []string{"update -qq", install + " radvd ndisc6"}},
		{name: "removed with config left counts as missing", installed: []string{"iproute2", "radvd=rc"}, uid: "0",
			want: []string{"radvd", "iproute2"},
			apt:  []string{"update -qq", install + " radvd"}},
		{name: "not root", installed: []string{"iproute2"}, uid: "1000",
			want: []string{"radvd", "iproute2", "ndisc6"}, code: 2,
			errHas: "make demo: needs the Debian packages radvd ndisc6: run it as root"},
		{name: "no apt", uid: "0", noApt: true,
			want: []string{"radvd"}, code: 2,
			errHas: "make demo: needs the Debian packages radvd, and this machine has no apt-get"},
		{name: "offline: update fails", installed: []string{"iproute2"}, uid: "0", aptFail: "update",
			want: []string{"radvd", "iproute2"}, code: 2,
			apt:    []string{"update -qq"},
			errHas: "apt-get update failed (offline, or no reachable mirror?); still missing: radvd"},
		{name: "unknown to apt: install fails", uid: "0", aptFail: "install",
			want: []string{"radvd", "nosuchpkg"}, code: 2,
			apt:    []string{"update -qq", install + " radvd nosuchpkg"},
			errHas: "apt-get install failed; still missing: radvd nosuchpkg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDebian(t, tc.installed, tc.uid, tc.aptFail, !tc.noApt)
			_, stderr, code := f.run(t, append([]string{"make demo"}, tc.want...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if diff := cmp.Diff(tc.apt, f.aptCalls(t)); diff != "" {
				t.Errorf("apt-get calls (-want +got):\n%s", diff)
			}
			if tc.errHas != "" && !strings.Contains(stderr, tc.errHas) {
				t.Errorf("stderr %q lacks %q", stderr, tc.errHas)
			}
			if tc.code == 0 && stderr != "" {
				t.Errorf("stderr on success: %q", stderr)
			}
		})
	}
}

func TestNeedDebsNoDpkg(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("/bin/bash", "need-debs", "make test", "radvd")
	cmd.Env = []string{"PATH=" + dir}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2: %s", err, out)
	}
	if !strings.Contains(string(out), "make test: needs the Debian packages radvd, and this machine has no dpkg") {
		t.Errorf("output %q does not name the package and the missing dpkg", out)
	}
}

// TestMakeDemoMissingPackages runs the real Makefile's demo target with a
// package missing and no root: it must name the package and stop before
// building anything (the fake go records any call).
func TestMakeDemoMissingPackages(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	f := newFakeDebian(t, []string{"iproute2", "iputils-ping", "procps"}, "1000", "", true)
	goLog := filepath.Join(f.dir, "go.log")
	if err := os.WriteFile(filepath.Join(f.dir, "go"), []byte("#!/bin/bash\necho \"$*\" >>"+goLog+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mk, "--no-print-directory", "-C", "..", "demo")
	cmd.Env = []string{"PATH=" + f.dir}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("make demo: %v, want exit 2:\n%s", err, out)
	}
	if !strings.Contains(string(out), "make demo: needs the Debian packages radvd: run it as root") {
		t.Errorf("make demo output does not name radvd:\n%s", out)
	}
	if b, err := os.ReadFile(goLog); err == nil {
		t.Errorf("make demo ran go before its packages were there: %s", b)
	}
	if len(f.aptCalls(t)) != 0 {
		t.Errorf("apt-get called without root: %q", f.aptCalls(t))
	}
}
