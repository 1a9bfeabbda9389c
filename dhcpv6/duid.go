package dhcpv6

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// DUIDFile is the name of the node's DUID file in the state directory.
const DUIDFile = "dhcpv6-duid"

// LoadOrCreateDUID returns the DUID of this node kept in stateDir/DUIDFile,
// creating it from random (crypto/rand.Reader in production) the first
// time. It never changes afterwards: RFC 8415 §11 expects one stable DUID
// per node, used by its server and by its prefix-delegation client.
//
// The DUID is a DUID-UUID (RFC 6355) of random bits rather than a DUID-LLT
// or DUID-LL: it depends on no interface (the first server or client to
// start would otherwise pick its own MAC, and a Neutron port, hence its
// MAC, can be replaced), on no clock (a VM boots with whatever time it is
// given) and reveals no MAC (RFC 7844). Two processes creating it at the
// same moment agree: the file is linked into place only if absent.
func LoadOrCreateDUID(stateDir string, random io.Reader) (dhcpv6.DUID, error) {
	path := filepath.Join(stateDir, DUIDFile)
	if d, err := readDUID(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return d, err
	}
	var u dhcpv6.DUIDUUID
	if _, err := io.ReadFull(random, u.UUID[:]); err != nil {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	// RFC 4122 version 4 (random) and variant bits.
	u.UUID[6] = u.UUID[6]&0x0f | 0x40
	u.UUID[8] = u.UUID[8]&0x3f | 0x80
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, ".duid-*")
	if err != nil {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(formatDUID(u.ToBytes()) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	if err := (osFS{}).SyncDir(stateDir); err != nil {
		return nil, fmt.Errorf("create dhcpv6 duid: %w", err)
	}
	return readDUID(path) // ours, or the one another process linked first
}

func readDUID(path string) (dhcpv6.DUID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw, err := parseDUID(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 duid file %s: %w", path, err)
	}
	d, err := dhcpv6.DUIDFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 duid file %s: %w", path, err)
	}
	return d, nil
}

// VirtualDUID is the DUID the two routers of an HA pair share: a DUID-LL
// of the VRRP virtual MAC 00:00:5e:00:02:VRID (RFC 9568 §7.3). Clients
// keep talking to the same server identity when the Backup takes over, so
// their Renews, which carry the Server ID, are not discarded (§16.6).
func VirtualDUID(vrid uint8) dhcpv6.DUID {
	return &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{0, 0, 0x5e, 0, 2, vrid}}
}

// formatDUID writes a DUID as colon-separated hex bytes, as config DUIDs
// are written.
func formatDUID(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(hex.EncodeToString([]byte{c}))
	}
	return s.String()
}

// parseDUID reads colon-separated (or plain) hex bytes: 3 to 130 of them
// (RFC 8415 §11.1: at most 128 octets after the 2-octet type).
func parseDUID(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return nil, fmt.Errorf("duid %q: %w", s, err)
	}
	if len(b) < 3 || len(b) > 130 {
		return nil, fmt.Errorf("duid %q: %d bytes, want 3 to 130", s, len(b))
	}
	return bytes.Clone(b), nil
}
