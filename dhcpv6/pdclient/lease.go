package pdclient

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// leaseVersion is the format of the lease file.
const leaseVersion = 1

// leaseDoc is the lease file pd-IFACE.json: the last delegation, kept so
// that a restart uses a still-valid one at once and asks for the same
// prefix again otherwise. Lifetimes are in seconds (0xffffffff: infinity).
type leaseDoc struct {
	Version   int          `json:"version"`
	Interface string       `json:"interface"`
	IAID      string       `json:"iaid"` // 8 hex digits
	Prefix    netip.Prefix `json:"prefix"`
	Preferred uint32       `json:"preferred_lifetime"`
	Valid     uint32       `json:"valid_lifetime"`
	T1        uint32       `json:"t1"`
	T2        uint32       `json:"t2"`
	Obtained  time.Time    `json:"obtained"`
	ServerID  string       `json:"server_id"` // hex DUID
	Server    netip.Addr   `json:"server,omitzero"`
	Unicast   netip.Addr   `json:"unicast,omitzero"`
	// Released is true after a Release: the prefix is only a hint.
	Released bool `json:"released,omitempty"`
}

func seconds(d time.Duration) uint32 {
	if d >= Infinity {
		return 0xffffffff
	}
	return uint32(max(d, 0) / time.Second)
}

func fromSeconds(s uint32) time.Duration { return time.Duration(s) * time.Second }

// leaseFile is where the lease of one interface is kept; "" = nowhere.
type leaseFile string

func (f leaseFile) load() (*leaseDoc, error) {
	if f == "" {
		return nil, nil
	}
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lease file: %w", err)
	}
	var d leaseDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("lease file %s: %w", f, err)
	}
	if d.Version != leaseVersion {
		return nil, fmt.Errorf("lease file %s: version %d, want %d", f, d.Version, leaseVersion)
	}
	if !d.Prefix.IsValid() || !d.Prefix.Addr().Is6() {
		return nil, fmt.Errorf("lease file %s: no IPv6 prefix", f)
	}
	if _, err := parseIAID(d.IAID); err != nil {
		return nil, fmt.Errorf("lease file %s: %w", f, err)
	}
	if _, err := hex.DecodeString(d.ServerID); err != nil {
		return nil, fmt.Errorf("lease file %s: server_id: %w", f, err)
	}
	return &d, nil
}

// save writes the lease atomically: a temporary file in the same directory,
// fsync, rename, fsync of the directory.
func (f leaseFile) save(d *leaseDoc) error {
	if f == "" {
		return nil
	}
	d.Version = leaseVersion
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lease: %w", err)
	}
	return writeAtomic(string(f), append(b, '\n'))
}

func writeAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	// The rename itself survives a crash once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", name, err)
	}
	return nil
}

func parseIAID(s string) ([4]byte, error) {
	var id [4]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return id, fmt.Errorf("iaid %q: want 8 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// defaultIAID derives the IAID from the interface name, so it is the same
// across restarts (RFC 8415 §12) even without a lease file.
func defaultIAID(iface string) [4]byte {
	h := fnv.New32a()
	h.Write([]byte(iface))
	var id [4]byte
	copy(id[:], h.Sum(nil))
	return id
}

// randomDUID returns a DUID-UUID (RFC 6355) of random bits, for a client
// with no state directory to keep the node's DUID in.
func randomDUID() (dhcpv6.DUID, error) {
	var u dhcpv6.DUIDUUID
	if _, err := rand.Read(u.UUID[:]); err != nil {
		return nil, fmt.Errorf("duid: %w", err)
	}
	u.UUID[6] = u.UUID[6]&0x0f | 0x40 // version 4
	u.UUID[8] = u.UUID[8]&0x3f | 0x80 // variant RFC 4122
	return &u, nil
}
