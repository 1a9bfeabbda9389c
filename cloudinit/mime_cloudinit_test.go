package cloudinit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMultipartNonASCIILoadsInCloudInit hands a multipart user-data with
// a non-ASCII cloud-config part to cloud-init's own user-data processor
// and YAML loader: the part must load with its text intact. Sent 8bit it
// did not (cloud-init 22.4: "special characters are not allowed", and
// none of the part's files were written).
func TestMultipartNonASCIILoadsInCloudInit(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import cloudinit.user_data").Run(); err != nil {
		t.Skipf("cloud-init's Python modules not importable by %s (Debian package cloud-init; .ci/run installs it): %v", py, err)
	}
	const text = "héllo, wörld"
	ud, err := Multipart([]Part{{Filename: "x.yaml", ContentType: "text/cloud-config",
		Content: []byte("#cloud-config\n# commentaire: ça marche\nwrite_files:\n- path: /tmp/x\n  content: \"" + text + "\"\n")}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, ud, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, yaml
from cloudinit import user_data, util
msg = user_data.UserDataProcessor({}).process(open(sys.argv[1], "rb").read())
for part in msg.walk():
    if part.get_content_type() == "text/cloud-config":
        d = yaml.safe_load(util.fully_decoded_payload(part))
        print(d["write_files"][0]["content"])
`
	out, err := exec.Command(py, "-c", script, f).CombinedOutput()
	if err != nil {
		t.Fatalf("cloud-init's processor: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != text {
		t.Errorf("cloud-init loaded the part's content as %q, want %q", got, text)
	}
}
