package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a Scenario. The zero value builds the reference topology
// with a random prefix; StartVRouter needs VRouterBin.
type Options struct {
	// Prefix starts every namespace name, e.g. "vr-k3f9a-". Empty picks
	// "vr-" + 5 random characters + "-". At most 12 characters of
	// [a-z0-9-].
	Prefix string
	// VRouterBin is the vrouter binary StartVRouter runs.
	VRouterBin string
	// VRouterConfig is written to a file in Dir and passed as
	// `vrouter run --config FILE`, so that /etc/vrouter/vrouter.yaml of
	// the machine running the scenario plays no part. Nil means the embedded
	// default (config.DefaultYAML), the reference scenario.
	VRouterConfig []byte
	// VRouterArgs are appended to `vrouter run --config FILE`.
	VRouterArgs []string
	// LateVRouterLinks builds everything but keeps the vRouter's eth0 and
	// eth1 in a parking namespace until AttachVRouterLinks moves them in, so
	// that vrouter can be started before its links exist. The ipv6-router
	// and the switch have their ends (without carrier) from the start.
	LateVRouterLinks bool
	// VRouterLinksDown leaves the vRouter's eth0 and eth1 administratively
	// down (vrouter must bring them up); by default the scenario sets them
	// up, as a booted VM's network config would.
	VRouterLinksDown bool
	// SecondTenantNetwork adds a second tenant segment (bridge br1 in the
	// switch) between the vRouter's eth2 and an eth1 of each VM, as a
	// second Neutron network whose ports are on the same VMs; no address
	// is set on it (the vRouter's config does that).
	SecondTenantNetwork bool
	// RadvdMaxInterval is the ipv6-router's MaxRtrAdvInterval (whole
	// seconds, 4s..1800s); 0 means DefaultRadvdMaxInterval. The minimum
	// interval is 3/4 of it, at least 3s.
	RadvdMaxInterval time.Duration
	// Logger receives one debug line per command run and info lines for the
	// steps; nil discards.
	Logger *slog.Logger
	// KeepDir keeps the working directory (configs, process logs) after
	// Close; its path is Dir().
	KeepDir bool
}

// Scenario is one built topology. Its methods are safe for concurrent use.
type Scenario struct {
	opts   Options
	prefix string
	dir    string
	log    *slog.Logger

	mu       sync.Mutex
	netns    []string // created namespaces, in creation order
	procs    []*Proc
	attached bool

	closeOnce sync.Once
	closeErr  error
}

var (
	liveMu sync.Mutex
	live   = map[*Scenario]struct{}{}
)

// CloseAll closes every scenario of this process that is still open. It is
// meant for signal handlers (the demo, TestMain), so that Ctrl-C leaves no
// namespace behind.
func CloseAll() error {
	liveMu.Lock()
	var all []*Scenario
	for s := range live {
		all = append(all, s)
	}
	liveMu.Unlock()
	var errs []error
	for _, s := range all {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,11}$`)

// RandomPrefix returns a fresh namespace prefix "vr-XXXXX-".
func RandomPrefix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	rand.Read(b) // never fails (crypto/rand, Go >= 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "vr-" + string(b) + "-"
}

// New builds the topology: the namespaces of Nodes with lo up and their
// sysctls, the ipv6-router's address and route to the tenant prefix, the
// bridge, and the veth pairs, all links up. It starts no process (see
// StartRadvd, StartVRouter). On error everything created so far is removed.
func New(ctx context.Context, opts Options) (*Scenario, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("scenario: needs root (network namespaces)")
	}
	if opts.Prefix == "" {
		opts.Prefix = RandomPrefix()
	}
	if !prefixRE.MatchString(opts.Prefix) {
		return nil, fmt.Errorf("scenario: prefix %q: want 1..12 characters of [a-z0-9-]", opts.Prefix)
	}
	if opts.RadvdMaxInterval == 0 {
		opts.RadvdMaxInterval = DefaultRadvdMaxInterval
	}
	if err := radvdConfig(opts.RadvdMaxInterval).Validate(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	for _, prog := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(prog); err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s := &Scenario{opts: opts, prefix: opts.Prefix, dir: dir, log: opts.Logger.With("scenario", opts.Prefix)}
	liveMu.Lock()
	live[s] = struct{}{}
	liveMu.Unlock()
	if err := s.build(ctx); err != nil {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("scenario %s: build: %w", opts.Prefix, err)
	}
	return s, nil
}

// Prefix returns the namespace prefix of this run.
func (s *Scenario) Prefix() string { return s.prefix }

// NS returns the namespace name of node.
func (s *Scenario) NS(n Node) string { return s.prefix + string(n) }

// Dir returns the working directory holding configs and process logs.
func (s *Scenario) Dir() string { return s.dir }

// Sysctls the scenario sets per namespace before it creates links, so that
// new links inherit them ("default"), and "all" where the kernel reads it.
var nodeSysctls = map[Node][]string{
	// A router: forwarding on (radvd insists), RAs ignored.
	Upstream: {
		"net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1",
		"net.ipv6.conf.default.accept_ra=0", "net.ipv6.conf.default.addr_gen_mode=0",
		"net.ipv6.conf.default.use_tempaddr=0",
	},
	// Before vrouter runs: no forwarding and no RA processing, so that the
	// eth0 address and default route can only come from vrouter turning
	// accept_ra=2 (and forwarding) on, never from the kernel defaults.
	VRouter: {
		"net.ipv6.conf.all.forwarding=0", "net.ipv6.conf.default.forwarding=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
		"net.ipv6.conf.default.autoconf=1", "net.ipv6.conf.default.addr_gen_mode=0",
		"net.ipv6.conf.all.use_tempaddr=0", "net.ipv6.conf.default.use_tempaddr=0",
	},
	// An L2 segment: no IPv6 on the bridge or its ports.
	Switch:  {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
	parking: {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
	// Plain hosts doing SLAAC with EUI-64 identifiers and no privacy
	// addresses, so that their one global address is predictable.
	VM1: vmSysctls("default"),
	VM2: vmSysctls("default"),
}

func vmSysctls(ifname string) []string {
	c := "net.ipv6.conf." + ifname + "."
	s := []string{
		c + "forwarding=0", c + "accept_ra=1", c + "autoconf=1", c + "accept_ra_defrtr=1",
		c + "accept_ra_pinfo=1", c + "accept_dad=1", c + "use_tempaddr=0", c + "addr_gen_mode=0",
	}
	if ifname == "default" {
		s = append(s, "net.ipv6.conf.all.forwarding=0", "net.ipv6.conf.all.use_tempaddr=0")
	}
	return s
}

func (s *Scenario) build(ctx context.Context) error {
	nodes := append([]Node(nil), Nodes...)
	if s.opts.LateVRouterLinks {
		nodes = append(nodes, parking)
	}
	for _, n := range nodes {
		if err := s.addNetns(ctx, n); err != nil {
			return err
		}
	}
	vrSide := VRouter
	if s.opts.LateVRouterLinks {
		vrSide = parking
	}
	up, sw, vr := s.NS(Upstream), s.NS(Switch), s.NS(vrSide)
	cmds := [][]string{
		// The tenant segment.
		{"ip", "-n", sw, "link", "add", IfBridge, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"ip", "-n", sw, "link", "set", IfBridge, "up"},
		// ipv6-router eth0 <-> vRouter eth0.
		{"ip", "-n", up, "link", "add", IfEth0, "address", MACUpstream.String(), "type", "veth",
			"peer", "name", IfEth0, "netns", vr, "address", MACVRouterEth0.String()},
		{"ip", "-n", up, "addr", "add", UpstreamAddr.String(), "dev", IfEth0, "nodad"},
		{"ip", "-n", up, "link", "set", IfEth0, "up"},
		{"ip", "-n", up, "-6", "route", "add", TenantPrefix.String(), "via", VRouterEth0Addr.Addr().String(), "dev", IfEth0},
		// vRouter eth1 <-> switch p-vr.
		{"ip", "-n", sw, "link", "add", "p-vr", "type", "veth",
			"peer", "name", IfEth1, "netns", vr, "address", MACVRouterEth1.String()},
		{"ip", "-n", sw, "link", "set", "p-vr", "master", IfBridge, "up"},
	}
	if s.opts.SecondTenantNetwork {
		cmds = append(cmds,
			[]string{"ip", "-n", sw, "link", "add", IfBridge2, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
			[]string{"ip", "-n", sw, "link", "set", IfBridge2, "up"},
			[]string{"ip", "-n", sw, "link", "add", "p-vr2", "type", "veth",
				"peer", "name", IfEth2, "netns", vr, "address", MACVRouterEth2.String()},
			[]string{"ip", "-n", sw, "link", "set", "p-vr2", "master", IfBridge2, "up"},
		)
		for _, vm := range []struct {
			node Node
			mac  string
		}{{VM1, MACVM1Net2.String()}, {VM2, MACVM2Net2.String()}} {
			port := "p-" + string(vm.node) + "n2"
			cmds = append(cmds,
				[]string{"ip", "-n", sw, "link", "add", port, "type", "veth",
					"peer", "name", IfEth1, "netns", s.NS(vm.node), "address", vm.mac},
				[]string{"ip", "-n", sw, "link", "set", port, "master", IfBridge2, "up"},
				append([]string{"ip", "netns", "exec", s.NS(vm.node), "sysctl", "-q", "-w"}, vmSysctls(IfEth1)...),
				[]string{"ip", "-n", s.NS(vm.node), "link", "set", IfEth1, "up"},
			)
		}
	}
	for _, vm := range []struct {
		node Node
		mac  string
	}{{VM1, MACVM1.String()}, {VM2, MACVM2.String()}} {
		port := "p-" + string(vm.node)
		cmds = append(cmds,
			[]string{"ip", "-n", sw, "link", "add", port, "type", "veth",
				"peer", "name", IfEth0, "netns", s.NS(vm.node), "address", vm.mac},
			[]string{"ip", "-n", sw, "link", "set", port, "master", IfBridge, "up"},
			append([]string{"ip", "netns", "exec", s.NS(vm.node), "sysctl", "-q", "-w"}, vmSysctls(IfEth0)...),
			[]string{"ip", "-n", s.NS(vm.node), "link", "set", IfEth0, "up"},
		)
	}
	for _, c := range cmds {
		if _, err := s.run(ctx, c...); err != nil {
			return err
		}
	}
	if !s.opts.LateVRouterLinks && !s.opts.VRouterLinksDown {
		return s.vrouterLinksUp(ctx)
	}
	return nil
}

func (s *Scenario) addNetns(ctx context.Context, n Node) error {
	name := s.NS(n)
	if _, err := s.run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	s.mu.Lock()
	s.netns = append(s.netns, name)
	s.mu.Unlock()
	if _, err := s.run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if kv := nodeSysctls[n]; len(kv) > 0 {
		if _, err := s.Exec(ctx, n, append([]string{"sysctl", "-q", "-w"}, kv...)...); err != nil {
			return err
		}
	}
	return nil
}

// vrouterLinks are the vRouter's links: eth0, eth1, and eth2 with
// Options.SecondTenantNetwork.
func (s *Scenario) vrouterLinks() []string {
	if s.opts.SecondTenantNetwork {
		return []string{IfEth0, IfEth1, IfEth2}
	}
	return []string{IfEth0, IfEth1}
}

func (s *Scenario) vrouterLinksUp(ctx context.Context) error {
	for _, ifname := range s.vrouterLinks() {
		if err := s.SetLink(ctx, VRouter, ifname, true); err != nil {
			return err
		}
	}
	return nil
}

// AttachVRouterLinks moves the vRouter's eth0 and eth1 from the parking
// namespace into the vRouter namespace, where they appear as hot-plugged
// NICs would (down, fresh IPv6 state from the namespace defaults), and then
// sets them up unless Options.VRouterLinksDown. Only with
// Options.LateVRouterLinks, once.
func (s *Scenario) AttachVRouterLinks(ctx context.Context) error {
	s.mu.Lock()
	if !s.opts.LateVRouterLinks || s.attached {
		s.mu.Unlock()
		return errors.New("scenario: AttachVRouterLinks: only once, and only with Options.LateVRouterLinks")
	}
	s.attached = true
	s.mu.Unlock()
	for _, ifname := range s.vrouterLinks() {
		if _, err := s.run(ctx, "ip", "-n", s.NS(parking), "link", "set", ifname, "netns", s.NS(VRouter)); err != nil {
			return fmt.Errorf("scenario: attach vRouter links: %w", err)
		}
	}
	s.log.Info("vRouter links attached", "links", s.vrouterLinks())
	if s.opts.VRouterLinksDown {
		return nil
	}
	return s.vrouterLinksUp(ctx)
}

// SetLink sets ifname in node administratively up or down.
func (s *Scenario) SetLink(ctx context.Context, n Node, ifname string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := s.run(ctx, "ip", "-n", s.NS(n), "link", "set", ifname, state)
	return err
}

// Exec runs a program inside node's namespace (`ip netns exec NS args...`)
// and returns its combined output. Without a deadline in ctx it is bounded
// by 30s. A non-zero exit is an error that carries the command and output.
func (s *Scenario) Exec(ctx context.Context, n Node, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("scenario: Exec: no command")
	}
	return s.run(ctx, append([]string{"ip", "netns", "exec", s.NS(n)}, args...)...)
}

// run runs a program in the caller's namespace and returns its combined
// output.
func (s *Scenario) run(ctx context.Context, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	s.log.Debug("run", "cmd", strings.Join(args, " "), "took", time.Since(start).Round(time.Millisecond), "err", err)
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return out.String(), nil
}

// Close stops every process the scenario started (vrouter with SIGTERM and
// up to 5s to send its final RAs, radvd with SIGTERM, anything else still
// alive inside the namespaces with SIGKILL), deletes the namespaces (and so
// every link in them) and the working directory unless KeepDir. It is
// idempotent and safe to call from a signal handler's goroutine.
func (s *Scenario) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.close()
		liveMu.Lock()
		delete(live, s)
		liveMu.Unlock()
	})
	return s.closeErr
}

func (s *Scenario) close() error {
	var errs []error
	s.mu.Lock()
	procs := append([]*Proc(nil), s.procs...)
	netns := append([]string(nil), s.netns...)
	s.mu.Unlock()
	// Newest first: vrouter before radvd.
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if _, err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil && !errors.Is(err, ErrExited) {
			errs = append(errs, err)
		}
	}
	// Each step gets its own bound: Close may run after the caller's
	// context is gone (Ctrl-C, test cleanup).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(netns) - 1; i >= 0; i-- {
		name := netns[i]
		// Anything left inside (a ping of a cancelled Exec, a process
		// started by hand) would keep the namespace alive after its name
		// is gone.
		if out, err := s.run(ctx, "ip", "netns", "pids", name); err == nil {
			for _, f := range strings.Fields(out) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if _, err := s.run(ctx, "ip", "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	if !s.opts.KeepDir {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scenario %s: close: %w", s.prefix, err)
	}
	s.log.Info("scenario removed")
	return nil
}

// RemoveLeftovers deletes the namespaces whose names start with prefix
// (killing what runs in them), for runs that could not clean up after
// themselves (SIGKILL, a test binary's timeout panic). It returns the names
// deleted. Every namespace with that prefix goes, including those of a
// scenario still running: pass a full per-run prefix such as "vr-k3f9a-".
func RemoveLeftovers(ctx context.Context, prefix string) ([]string, error) {
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("scenario: prefix %q: want 1..12 characters of [a-z0-9-]", prefix)
	}
	s := &Scenario{prefix: prefix, log: slog.New(slog.DiscardHandler), opts: Options{KeepDir: true}}
	out, err := s.run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			s.netns = append(s.netns, f[0])
		}
	}
	names := append([]string(nil), s.netns...)
	return names, s.close()
}
