package dhcpv6

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

func TestLoadOrCreateDUID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d1, err := LoadOrCreateDUID(dir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if d1.DUIDType() != dhcpv6.DUID_UUID {
		t.Fatalf("type %s", d1.DUIDType())
	}
	u := d1.(*dhcpv6.DUIDUUID).UUID
	if u[6]>>4 != 4 || u[8]>>6 != 2 {
		t.Fatalf("not a version 4 UUID: %x", u)
	}
	// Stable: a second call (a restart) reads the same one.
	d2, err := LoadOrCreateDUID(dir, bytes.NewReader(make([]byte, 16)))
	if err != nil || !bytes.Equal(d1.ToBytes(), d2.ToBytes()) {
		t.Fatalf("second load %v (%v), first %v", d2, err, d1)
	}
	// The same DUID through the server's status.
	s, err := NewServer("eth1", statelessCfg(), WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Status().ServerDUID; got != formatDUID(d1.ToBytes()) {
		t.Fatalf("server duid %s", got)
	}
}

func TestLoadOrCreateDUIDConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			d, err := LoadOrCreateDUID(dir, rand.Reader)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = d.ToBytes()
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("creators disagree: %x vs %x", got[i], got[0])
		}
	}
}

func TestLoadDUIDErrors(t *testing.T) {
	for _, content := range []string{"zz", "00:01", "", "00:04:01"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, DUIDFile), []byte(content+"\n"), 0o600)
		if _, err := LoadOrCreateDUID(dir, rand.Reader); err == nil {
			t.Errorf("duid file %q accepted", content)
		}
	}
	if _, err := LoadOrCreateDUID(t.TempDir(), bytes.NewReader(nil)); err == nil {
		t.Error("no randomness accepted")
	}
}

func TestVirtualDUID(t *testing.T) {
	if got := formatDUID(VirtualDUID(51).ToBytes()); got != "00:03:00:01:00:00:5e:00:02:33" {
		t.Fatalf("virtual duid %s", got)
	}
}
