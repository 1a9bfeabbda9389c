package main

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vrouter/vrouter/dhcpv6"
)

// The servers are configured alike: one stateful pool, preferred 3600 s,
// valid 7200 s, T1 1800 s, T2 2880 s, Rapid Commit allowed, no DNS options,
// leases on disk, no per-message logs.
const (
	srvAddr   = "2001:db8:0:2::1/64" // the server interface's address
	poolStart = "2001:db8:0:2::1000"
	poolEnd   = "2001:db8:0:2::ffff:ffff"
)

// server is one DHCPv6 server implementation under test.
type server interface {
	name() string
	// start starts it on t's server interface with its state in dir
	// (cpuprofile: a pprof file, where the server can write one) and
	// returns once it listens on UDP 547.
	start(t *topo, dir, cpuprofile string) *proc
	// leases returns the leases in dir that a restart loads, keyed
	// "DUID-hex address".
	leases(t *topo, dir string) (map[string]bool, error)
}

// waitListening waits until p's namespace has a socket on UDP 547.
func waitListening(t *topo, p *proc) *proc {
	deadline := time.Now().Add(15 * time.Second)
	for !listening(t.srvNS, 547) {
		if p.exited() {
			fatal(fmt.Errorf("%s exited: %v: %s", p.name, p.err, p.stderr.String()))
		}
		if time.Now().After(deadline) {
			fatal(fmt.Errorf("%s does not listen on UDP 547 after 15 s: %s", p.name, p.stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func leaseKey(duid []byte, addr netip.Addr) string {
	return hex.EncodeToString(duid) + " " + addr.String()
}

// vrouterServer is vrouter's DHCPv6 server: `vrouter run` (bin) with a
// config that has only the server's interface, its address and its dhcpv6
// section, as shipped; or, with d6server set, bench/cmd/d6server, which runs
// package dhcpv6's server alone and can write a CPU profile. Its leases
// are read with d6server -leases (leasesBin), which loads the state
// directory as a restart does (label: its name in the results, default
// vrouter).
type vrouterServer struct {
	bin, leasesBin, label string
	d6server              bool
}

func (v vrouterServer) name() string {
	if v.label != "" {
		return v.label
	}
	return "vrouter"
}

// vrouterConfig is the dhcpv6 section of d6server's -config (JSON,
// config.DHCPv6).
func vrouterConfig() string {
	pool := fmt.Sprintf(`{"Start":%q,"End":%q}`, poolStart, poolEnd)
	return fmt.Sprintf(`{"Mode":"stateful","RapidCommit":true,"PreferredLifetime":%d,"ValidLifetime":%d,"T1":%d,"T2":%d,"InformationRefreshTime":%d,"Pools":[%s]}`,
		3600*time.Second, 7200*time.Second, 1800*time.Second, 2880*time.Second, 86400*time.Second, pool)
}

// vrouterYAML is vrouter run's config: the same server on iface.
func vrouterYAML(iface string) string {
	return fmt.Sprintf(`interfaces:
  %s:
    role: downstream
    addresses: [%s]
    dhcpv6:
      mode: stateful
      rapid_commit: true
      preferred_lifetime: 1h
      valid_lifetime: 2h
      t1: 30m
      t2: 48m
      pools: [{start: %q, end: %q}]
`, iface, srvAddr, poolStart, poolEnd)
}

func (v vrouterServer) start(t *topo, dir, cpuprofile string) *proc {
	if !v.d6server {
		if cpuprofile != "" {
			fatal(fmt.Errorf("%s: a CPU profile needs the d6server server (-servers d6server)", v.name()))
		}
		// Beside the state directory, not in it: vrouter owns that.
		cfg := dir + ".yaml"
		if err := os.WriteFile(cfg, []byte(vrouterYAML(t.srvIf)), 0o644); err != nil {
			fatal(err)
		}
		return waitListening(t, start(v.name(), t.srvNS, 1, nil, v.bin, "run", "--config", cfg,
			"--state-dir", dir, "--socket", "-", "--log-level", "warn"))
	}
	args := []string{v.bin, "-iface", t.srvIf, "-state", dir, "-config", vrouterConfig()}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	return waitListening(t, start(v.name(), t.srvNS, 1, nil, args...))
}

func (v vrouterServer) leases(t *topo, dir string) (map[string]bool, error) {
	out, err := exec.Command(v.leasesBin, "-iface", t.srvIf, "-state", dir, "-config", vrouterConfig(), "-leases").Output()
	if err != nil {
		return nil, fmt.Errorf("d6server -leases: %w", err)
	}
	return parseVrouterLeases(strings.NewReader(string(out)))
}

func parseVrouterLeases(r io.Reader) (map[string]bool, error) {
	m := map[string]bool{}
	dec := json.NewDecoder(r)
	for {
		var l dhcpv6.Lease
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return m, nil
		} else if err != nil {
			return nil, fmt.Errorf("vrouter leases: %w", err)
		}
		if !l.Declined() {
			m[leaseKey(l.DUID, l.Addr)] = true
		}
	}
}

// keaServer is ISC Kea's kea-dhcp6 with the memfile lease database.
type keaServer struct{}

func (keaServer) name() string { return "kea" }

func (keaServer) start(t *topo, dir, _ string) *proc {
	cfg := fmt.Sprintf(`{"Dhcp6": {
  "interfaces-config": {"interfaces": [%q]},
  "lease-database": {"type": "memfile", "persist": true, "name": %q},
  "data-directory": %q,
  "preferred-lifetime": 3600, "valid-lifetime": 7200, "renew-timer": 1800, "rebind-timer": 2880,
  "subnet6": [{"id": 1, "subnet": "2001:db8:0:2::/64", "interface": %q, "rapid-commit": true,
    "pools": [{"pool": "%s-%s"}]}],
  "loggers": [{"name": "kea-dhcp6", "severity": "WARN", "output_options": [{"output": "stderr"}]}]
}}`, t.srvIf, filepath.Join(dir, "leases6.csv"), dir, t.srvIf, poolStart, poolEnd)
	path := filepath.Join(dir, "kea-dhcp6.json")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		fatal(err)
	}
	env := []string{"KEA_PIDFILE_DIR=" + dir, "KEA_LOCKFILE_DIR=" + dir}
	return waitListening(t, start("kea", t.srvNS, 1, env, "kea-dhcp6", "-c", path))
}

func (keaServer) leases(_ *topo, dir string) (map[string]bool, error) {
	f, err := os.Open(filepath.Join(dir, "leases6.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseKeaLeases(f)
}

// parseKeaLeases reads a Kea memfile lease6 CSV as Kea loads it: a row per
// change, the last row of an address wins, a row with valid lifetime 0 or a
// state other than 0 (default) is not a live lease, and a row Kea cannot
// read (a write cut short by a crash) is skipped.
func parseKeaLeases(r io.Reader) (map[string]bool, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return nil, err
		}
	}
	if len(rows) == 0 {
		return map[string]bool{}, nil
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"address", "duid", "valid_lifetime", "state", "lease_type"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("kea leases: no column %q", h)
		}
	}
	last := map[netip.Addr][]string{}
	for _, row := range rows[1:] {
		if len(row) != len(rows[0]) {
			continue
		}
		a, err := netip.ParseAddr(row[col["address"]])
		if err != nil || row[col["lease_type"]] != "0" {
			continue
		}
		last[a] = row
	}
	m := map[string]bool{}
	for a, row := range last {
		if row[col["valid_lifetime"]] == "0" || row[col["state"]] != "0" {
			continue
		}
		d, err := hex.DecodeString(strings.ReplaceAll(row[col["duid"]], ":", ""))
		if err != nil {
			continue
		}
		m[leaseKey(d, a)] = true
	}
	return m, nil
}

// dnsmasqServer is dnsmasq's DHCPv6 server with its lease file.
type dnsmasqServer struct{}

func (dnsmasqServer) name() string { return "dnsmasq" }

func (dnsmasqServer) start(t *topo, dir, _ string) *proc {
	return waitListening(t, start("dnsmasq", t.srvNS, 1, nil, "dnsmasq",
		"--conf-file=/dev/null", "--keep-in-foreground", "--port=0", "--no-resolv", "--no-hosts",
		"--interface="+t.srvIf, "--bind-interfaces",
		"--dhcp-range="+poolStart+","+poolEnd+",64,2h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--dhcp-lease-max=1000000",
		"--pid-file="+filepath.Join(dir, "pid"), "--quiet-dhcp6", "--log-facility=-",
		"--user=root", "--group=root"))
}

func (dnsmasqServer) leases(_ *topo, dir string) (map[string]bool, error) {
	f, err := os.Open(filepath.Join(dir, "leases"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseDnsmasqLeases(f)
}

// parseDnsmasqLeases reads a dnsmasq lease file: for DHCPv6 leases,
// "EXPIRY IAID ADDRESS HOSTNAME CLIENT-DUID" (and a "duid SERVER-DUID"
// line); a line it cannot read is skipped.
func parseDnsmasqLeases(r io.Reader) (map[string]bool, error) {
	m := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 {
			continue
		}
		if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
			continue
		}
		a, err := netip.ParseAddr(f[2])
		if err != nil || !a.Is6() {
			continue
		}
		d, err := hex.DecodeString(strings.ReplaceAll(f[4], ":", ""))
		if err != nil {
			continue
		}
		m[leaseKey(d, a)] = true
	}
	return m, sc.Err()
}

// dnsmasqLeaseFile returns n leases in dnsmasq's lease file format, for
// clients d6load would use with seed, expiring at exp.
func dnsmasqLeaseFile(n int, seed byte, exp time.Time) string {
	var b strings.Builder
	base := netip.MustParseAddr(poolStart).As16()
	for i := range n {
		a := base // poolStart + i
		binary.BigEndian.PutUint32(a[12:], binary.BigEndian.Uint32(base[12:])+uint32(i))
		d := []byte{0, 3, 0, 1, 2, seed, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		fmt.Fprintf(&b, "%d 1 %s * %s\n", exp.Unix(), netip.AddrFrom16(a), colonHex(d))
	}
	return b.String()
}

func colonHex(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(s, ":")
}
