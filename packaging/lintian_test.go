package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildVrouter builds the real binary as make deb does (static, stripped).
func buildVrouter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vrouter")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../cmd/vrouter")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestLintian runs Debian's package checker on the package as make deb
// builds it: no error and no warning.
func TestLintian(t *testing.T) {
	li, err := exec.LookPath("lintian")
	if err != nil {
		t.Skip("lintian not installed (Debian package lintian; make test installs it)")
	}
	if testing.Short() {
		t.Skip("-short: lintian takes half a minute")
	}
	deb := filepath.Join(t.TempDir(), FileName("1.2.3", ""))
	f, err := os.Create(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := Build(f, Options{Version: "1.2.3", Binary: buildVrouter(t), Date: time.Now(), Docs: []string{"../OPENSTACK.md"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(li, "--info", deb).CombinedOutput()
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 || (err != nil && len(out) == 0) {
		t.Errorf("lintian (%v):\n%s", err, strings.Join(bad, "\n"))
	}
	t.Logf("lintian:\n%s", out)
}
