package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/vrouter/vrouter/internal/ifname"
)

// OwnedFile is the name of the file, in the state directory, that records
// the addresses the reconciler added (see WithStateDir).
const OwnedFile = "router-addresses.json"

// ownedVersion is the format of the owned-addresses file.
const ownedVersion = 1

// ownedDoc is the owned-addresses file:
//
//	{"version": 1, "addresses": {"eth1": ["2001:db8:0:2::1/64"]}}
type ownedDoc struct {
	Version   int                 `json:"version"`
	Addresses map[string][]string `json:"addresses"`
}

// owned is, per interface, the addresses the reconciler added and has not
// removed since.
type owned map[string]map[netip.Prefix]bool

// parseOwned decodes an owned-addresses file. Anything it cannot prove
// (bad JSON, another version, an invalid interface name or address) makes
// the whole file an error: the caller then owns nothing.
func parseOwned(b []byte) (owned, error) {
	var doc ownedDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.Version != ownedVersion {
		return nil, fmt.Errorf("version %d, want %d", doc.Version, ownedVersion)
	}
	if doc.Addresses == nil {
		return nil, errors.New("no addresses object")
	}
	o := make(owned, len(doc.Addresses))
	for name, list := range doc.Addresses {
		if err := ifname.Check(name); err != nil {
			return nil, fmt.Errorf("interface %q: %w", name, err)
		}
		for _, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("interface %s: %w", name, err)
			}
			if !validAddr(p) {
				return nil, fmt.Errorf("interface %s: %s is not an IPv6 interface address", name, p)
			}
			if o[name] == nil {
				o[name] = make(map[netip.Prefix]bool)
			}
			o[name][p] = true
		}
	}
	return o, nil
}

// marshal encodes o with sorted interfaces and addresses, so an unchanged
// set encodes to the same bytes.
func (o owned) marshal() []byte {
	doc := ownedDoc{Version: ownedVersion, Addresses: make(map[string][]string, len(o))}
	for name, set := range o {
		if len(set) == 0 {
			continue
		}
		ps := make([]netip.Prefix, 0, len(set))
		for p := range set {
			ps = append(ps, p)
		}
		slices.SortFunc(ps, comparePrefix)
		list := make([]string, len(ps))
		for i, p := range ps {
			list[i] = p.String()
		}
		doc.Addresses[name] = list
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // strings and ints only
	}
	return append(b, '\n')
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// loadOwned reads the owned-addresses file at path. A missing file is no
// error (a first start): it returns an empty set.
func loadOwned(path string) (owned, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return owned{}, nil
	}
	if err != nil {
		return owned{}, fmt.Errorf("read %s: %w", path, err)
	}
	o, err := parseOwned(b)
	if err != nil {
		return owned{}, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// writeFileAtomic replaces path with b so that a crash at any point leaves
// either the old or the new content: a temporary file in the same
// directory, written and fsynced, renamed over path, then the directory
// fsynced so the rename itself is durable.
func writeFileAtomic(path string, b []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing to remove
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
