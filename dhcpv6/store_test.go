package dhcpv6

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var errCrash = errors.New("crashed")

// memFS is a file system that models what survives a crash: the volatile
// view (what a process that was killed leaves: the page cache) and the
// durable view (what a power loss leaves: data synced with Sync, directory
// entries synced with SyncDir). It crashes at its crashAt-th operation
// (counting from 1; 0 = never), after applying half of a write (a torn
// write) when the operation is a Write.
type memFS struct {
	names, durable map[string]*inode
	ops, crashAt   int
	crashed        bool
}

type inode struct{ data, synced []byte }

func newMemFS() *memFS {
	return &memFS{names: map[string]*inode{}, durable: map[string]*inode{}}
}

// step counts an operation and reports whether it may run.
func (m *memFS) step() error {
	if m.crashed {
		return errCrash
	}
	m.ops++
	if m.ops == m.crashAt {
		m.crashed = true
		return errCrash
	}
	return nil
}

// after returns the file system a restart finds: after a process crash
// (power false) or a power loss (power true).
func (m *memFS) after(power bool) *memFS {
	n := newMemFS()
	src := m.names
	if power {
		src = m.durable
	}
	for name, ino := range src {
		d := ino.data
		if power {
			d = ino.synced
		}
		c := &inode{data: slices.Clone(d), synced: slices.Clone(d)}
		n.names[name], n.durable[name] = c, c
	}
	return n
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	if err := m.step(); err != nil {
		return nil, err
	}
	ino, ok := m.names[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(ino.data), nil
}

func (m *memFS) Create(name string) (file, error) {
	if err := m.step(); err != nil {
		return nil, err
	}
	ino := &inode{}
	m.names[name] = ino
	return &memFile{fs: m, ino: ino}, nil
}

func (m *memFS) OpenAppend(name string) (file, error) {
	if err := m.step(); err != nil {
		return nil, err
	}
	ino, ok := m.names[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return &memFile{fs: m, ino: ino}, nil
}

func (m *memFS) Rename(o, n string) error {
	if err := m.step(); err != nil {
		return err
	}
	ino, ok := m.names[o]
	if !ok {
		return fs.ErrNotExist
	}
	delete(m.names, o)
	m.names[n] = ino
	return nil
}

func (m *memFS) Remove(name string) error {
	if err := m.step(); err != nil {
		return err
	}
	if _, ok := m.names[name]; !ok {
		return fs.ErrNotExist
	}
	delete(m.names, name)
	return nil
}

func (m *memFS) MkdirAll(string) error { return m.step() }

func (m *memFS) SyncDir(string) error {
	if err := m.step(); err != nil {
		return err
	}
	m.durable = maps.Clone(m.names)
	return nil
}

type memFile struct {
	fs  *memFS
	ino *inode
}

func (f *memFile) Write(b []byte) (int, error) {
	if err := f.fs.step(); err != nil {
		if f.fs.ops == f.fs.crashAt {
			f.ino.data = append(f.ino.data, b[:len(b)/2]...) // torn
		}
		return 0, err
	}
	f.ino.data = append(f.ino.data, b...)
	return len(b), nil
}

func (f *memFile) Sync() error {
	if err := f.fs.step(); err != nil {
		return err
	}
	f.ino.synced = slices.Clone(f.ino.data)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.fs.step(); err != nil {
		return err
	}
	f.ino.data = f.ino.data[:size]
	return nil
}

func (f *memFile) Close() error { return nil }

type leaseMap map[netip.Addr]string

func snapshot(t *table) leaseMap {
	m := leaseMap{}
	for a, l := range t.byAddr {
		m[a] = fmt.Sprintf("%x/%d/%d", l.DUID, l.IAID, l.Expires.Unix())
	}
	return m
}

// change is one step of the workload: a lease or a free.
type change struct {
	lease *Lease
	free  netip.Addr
}

func (c change) apply(m leaseMap) {
	if c.lease != nil {
		for a, v := range m { // one address per IA
			if c.lease.DUID != nil && strings.HasPrefix(v, fmt.Sprintf("%x/%d/", c.lease.DUID, c.lease.IAID)) {
				delete(m, a)
			}
		}
		m[c.lease.Addr] = fmt.Sprintf("%x/%d/%d", c.lease.DUID, c.lease.IAID, c.lease.Expires.Unix())
	} else {
		delete(m, c.free)
	}
}

// TestJournalCrash runs a workload of leases, frees, syncs and compactions
// and crashes it at every file system operation in turn, by process kill
// and by power loss: a restart must find the state of the last completed
// sync plus a prefix of the changes being synced, never anything else (no
// torn lease, no lost one, no resurrected one).
func TestJournalCrash(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)}) }
	lease := func(i, ia int) change {
		return change{lease: &Lease{Addr: addr(i), DUID: []byte{0, 4, byte(ia)}, IAID: uint32(ia), Expires: now.Add(time.Hour)}}
	}
	// Batches of changes; a nil batch is a compaction.
	workload := [][]change{
		{lease(1, 1)},
		{lease(2, 2), lease(3, 3), lease(4, 4)},
		{{free: addr(2)}, lease(5, 1)}, // IA 1 moves from 1 to 5
		nil,
		{lease(6, 6), {free: addr(3)}},
		{{lease: &Lease{Addr: addr(7), Expires: now.Add(time.Hour)}}}, // declined
		nil,
		{lease(8, 8)},
	}
	path := "/state/dhcpv6-eth1.leases"
	run := func(fsys *memFS) (committed leaseMap, inflight []change) {
		committed = leaseMap{}
		j, tb, _, err := openJournal(fsys, path, now)
		if err != nil {
			return committed, nil
		}
		for _, batch := range workload {
			if batch == nil {
				if j.compact(tb) != nil {
					return committed, nil
				}
				continue
			}
			for _, c := range batch {
				if c.lease != nil {
					l := *c.lease
					tb.put(&l)
					j.lease(&l)
				} else {
					tb.remove(tb.byAddr[c.free])
					j.free(c.free)
				}
			}
			if j.sync(tb) != nil {
				return committed, batch
			}
			committed = snapshot(tb)
		}
		return committed, nil
	}
	clean := newMemFS()
	final, _ := run(clean)
	if len(final) != 5 {
		t.Fatalf("workload ends with %d leases: %v", len(final), final)
	}
	for k := 1; k <= clean.ops+1; k++ {
		for _, power := range []bool{false, true} {
			fsys := newMemFS()
			fsys.crashAt = k
			committed, inflight := run(fsys)
			_, tb, _, err := openJournal(fsys.after(power), path, now)
			if err != nil {
				t.Fatalf("crash at op %d (power %v): reopen: %v", k, power, err)
			}
			got := snapshot(tb)
			ok := false
			for n := 0; n <= len(inflight) && !ok; n++ {
				want := maps.Clone(committed)
				for _, c := range inflight[:n] {
					c.apply(want)
				}
				ok = maps.Equal(got, want)
			}
			if !ok {
				t.Fatalf("crash at op %d (power %v): recovered %v\ncommitted %v, in flight %d changes", k, power, got, committed, len(inflight))
			}
		}
	}
}

func TestJournalDamagedLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l")
	now := time.Unix(1_800_000_000, 0)
	j, tb, _, err := openJournal(osFS{}, path, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l := &Lease{Addr: netip.AddrFrom16([16]byte{0x20, 15: byte(i + 1)}), DUID: []byte{1, 2, byte(i)}, IAID: 1, Expires: now.Add(time.Hour)}
		tb.put(l)
		j.lease(l)
	}
	if err := j.sync(tb); err != nil {
		t.Fatal(err)
	}
	j.close()
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	// Corrupt the second lease's checksum and cut the last line short.
	lines[2] = "00000000" + lines[2][8:]
	damaged := strings.Join(lines[:len(lines)-2], "") + lines[len(lines)-2][:10]
	os.WriteFile(path, []byte(damaged), 0o600)
	_, tb, bad, err := openJournal(osFS{}, path, now)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 1 || tb.len() != 1 {
		t.Fatalf("bad %d, leases %d; want 1 and 1", bad, tb.len())
	}
	// The rewrite left a clean journal.
	if _, tb, bad, _ = openJournal(osFS{}, path, now); bad != 0 || tb.len() != 1 {
		t.Fatalf("after rewrite: bad %d, leases %d", bad, tb.len())
	}
}

func TestJournalCompactsWhenLong(t *testing.T) {
	fsys := newMemFS()
	path := "/state/l"
	now := time.Unix(1_800_000_000, 0)
	j, tb, _, err := openJournal(fsys, path, now)
	if err != nil {
		t.Fatal(err)
	}
	l := &Lease{Addr: netip.MustParseAddr("2001:db8::1"), DUID: []byte{1, 2, 3}, IAID: 1}
	for i := range 3000 {
		l.Expires = now.Add(time.Duration(i) * time.Second)
		tb.put(l)
		j.lease(l)
		if err := j.sync(tb); err != nil {
			t.Fatal(err)
		}
		if j.needsCompaction(tb) {
			if err := j.compact(tb); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := strings.Count(string(fsys.names[path].data), "\n"); n > 1100 {
		t.Fatalf("journal of one lease has %d lines", n)
	}
	_, tb2, _, _ := openJournal(fsys.after(true), path, now)
	if got := tb2.byAddr[l.Addr]; got == nil || !got.Expires.Equal(l.Expires) {
		t.Fatalf("reloaded %+v, want expiry %v", got, l.Expires)
	}
}
