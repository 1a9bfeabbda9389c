package images_test

// The VM end-to-end test: "nova boot" simulated with qemu (TCG) and network
// namespaces. It boots the service-VM image with a config drive built as
// nova builds one, and checks that the router serves the tenant link.
//
//   ns <p>-up (ipv6-router)          ns <p>-hv (qemu)                        ns <p>-vm1
//   eth0 2001:db8:0:1::1/64  --veth-- br0 -- tap0 =[eth0  VM  eth1]= tap1 -- br1 --veth-- eth0 fa:16:3e:33:33:33
//   radvd 2001:db8:0:1::/64                  fa:16:3e:11:11:11  fa:16:3e:22:22:22        SLAAC 2001:db8:0:2:f816:3eff:fe33:3333
//   route 2001:db8:0:2::/64 via 2001:db8:0:1:f816:3eff:fe11:1111
//
// The VM has 2 vCPUs. The fast-path boots give its NICs fastpathQueues
// queue pairs (taps with multi_queue, virtio-net mq=on); the others keep
// one.
//
// Only the fast-path boots (the timed boots' subtests are named boot1...):
// -run '^TestVM$/^fastpath'.
// Run: VROUTER_E2E_VM=1 [VROUTER_IMAGE=bin/vrouter-bookworm.qcow2] go test -v -timeout 60m -run TestVM ./images/
// (root; Debian packages qemu-system-x86 radvd genisoimage iproute2 iputils-ping ndisc6 isc-dhcp-client,
// and those of build-image.sh when VROUTER_IMAGE is not given).
// VROUTER_E2E_VM_BOOTS=N boots N times (make e2e-vm: 3) and logs the median
// and range of qemu's start → VM1 holding its SLAAC address.
// VROUTER_E2E_VM_ANALYZE=1 also logs, once each boot has finished, where
// its time went: systemd-analyze time, critical-chain and blame, and
// cloud-init analyze blame, as the VM prints them on its console.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/cloudinit"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
)

const (
	macVMEth0 = "fa:16:3e:11:11:11"
	macVMEth1 = "fa:16:3e:22:22:22"
	macVM1    = "fa:16:3e:33:33:33"
	addrVM    = "2001:db8:0:1:f816:3eff:fe11:1111"
	addrVM1   = "2001:db8:0:2:f816:3eff:fe33:3333"
	addrUp    = "2001:db8:0:1::1"

	bootTimeout   = 8 * time.Minute // qemu's own `timeout` bound, per boot
	finalTimeout  = 6 * time.Minute // boot to cloud-init final, TCG
	vm1Timeout    = 2 * time.Minute // final to VM1's address
	markerService = "E2E vrouter.service="
	vmCPUs        = 2 // qemu -smp
)

func TestVM(t *testing.T) {
	if os.Getenv("VROUTER_E2E_VM") != "1" {
		t.Skip("VM e2e: set VROUTER_E2E_VM=1 to run it (make e2e-vm); it builds and boots an image under qemu for minutes")
	}
	if os.Geteuid() != 0 {
		t.Skip("VM e2e needs root (network namespaces, taps)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "radvd", "ip", "ping", "timeout", "rdisc6", "dhclient"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("VM e2e needs %s (Debian packages qemu-system-x86 radvd iproute2 iputils-ping coreutils ndisc6 isc-dhcp-client)", tool)
		}
	}
	image := os.Getenv("VROUTER_IMAGE")
	if image == "" {
		image = filepath.Join(t.TempDir(), "vrouter.qcow2")
		start := time.Now()
		cmd := exec.Command("bash", "build-image.sh", image)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build-image.sh: %v\n%s", err, tail(out, 4000))
		}
		st, _ := os.Stat(image)
		t.Logf("image built in %s, %d MiB", time.Since(start).Round(time.Second), st.Size()>>20)
	}
	if _, err := os.Stat(image); err != nil {
		t.Fatal(err)
	}

	boots := 1
	if s := os.Getenv("VROUTER_E2E_VM_BOOTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("VROUTER_E2E_VM_BOOTS=%q: want a positive count", s)
		}
		boots = n
	}

	// VROUTER_E2E_VM_BASELINE=OTHER.qcow2: OTHER boots in turn with the
	// image (AB BA AB...), so that a before/after comparison sees the same
	// conditions on a shared machine.
	baseline := os.Getenv("VROUTER_E2E_VM_BASELINE")
	var times, baseTimes []time.Duration
	for i := range boots {
		type run struct {
			name  string
			image string
			times *[]time.Duration
		}
		runs := []run{{fmt.Sprintf("boot%d", i+1), image, &times}}
		if baseline != "" {
			runs = append(runs, run{fmt.Sprintf("boot%d-baseline", i+1), baseline, &baseTimes})
			if i%2 == 1 {
				slices.Reverse(runs)
			}
		}
		for _, r := range runs {
			t.Run(r.name, func(t *testing.T) { *r.times = append(*r.times, bootGood(t, r.image)) })
		}
	}
	if !t.Failed() {
		logBootTimes(t, "", times)
		logBootTimes(t, "baseline "+filepath.Base(baseline)+": ", baseTimes)
	}
	t.Run("fastpath", func(t *testing.T) { bootFastpath(t, image, "", "[0, 1]", "xdp (xdp-native)") })
	t.Run("fastpath-af_xdp", func(t *testing.T) { bootFastpath(t, image, config.FastpathIOAFXDP, "", "af_xdp (xdp-") })
	t.Run("invalid-config", func(t *testing.T) { bootBadConfig(t, image) })
	t.Run("no-config", func(t *testing.T) { bootNoConfig(t, image) })
	t.Run("dhcpv6-stateful", func(t *testing.T) { bootStatefulDHCPv6(t, image) })
}

// logBootTimes logs the median and range of boot → VM1 address times.
func logBootTimes(t *testing.T, what string, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	times = slices.Sorted(slices.Values(times))
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	t.Logf("%sboot → VM1 address over %d boots: median %s, range %s..%s", what, len(times),
		r(times[len(times)/2]), r(times[0]), r(times[len(times)-1]))
}

// bootGood boots the router with the embedded default config and returns
// the time from qemu's start to VM1 holding its SLAAC address.
func bootGood(t *testing.T, image string) time.Duration {
	cc, _, err := cloudinit.Build(cloudinit.Options{NICs: vmNICs(t)})
	if err != nil {
		t.Fatal(err)
	}
	took, _ := bootAndPing(t, image, cc, 1)
	return took
}

// fastpathMarker prefixes the lines the fast-path boot prints on the
// console: `vrouter status` once the fast path has forwarded, then, once
// the test's flows have gone through, the status again, the NICs' queues
// and per-queue counters and the daemon's fast-path log.
const fastpathMarker = "E2E fastpath "

// fastpathQueues is the queue pairs of the VM's NICs in the fast-path
// boots: twice the vCPUs. The 6.1 guest uses min(queues, vCPUs) pairs for
// the stack, and virtio-net's XDP asks for one more transmit queue per
// possible CPU, so that XDP_TX and redirects into the NIC need no lock;
// with fewer (queues=vCPUs) it logs "XDP request 4 queues but max is 2"
// and shares the stack's transmit queues under their lock. Attaching the
// XDP program makes all of them receive queues as well (the device spreads
// flows over every enabled pair).
const fastpathQueues = 2 * vmCPUs

// fastpathFlows is how many source addresses VM1 pings from after the
// boot, so that the flows spread over the receive queues (the host's
// multi-queue tap picks a queue by a hash of the addresses); with 32 the
// chance that one of 4 queues gets none is below 1e-3.
const fastpathFlows = 32

// fastpathScript runs in the VM (a transient unit, so that cloud-init's
// final stage does not wait): once the fast path has forwarded (or after
// 5 minutes, saying so) it prints the status; once the forwarded counter has grown by 2×fastpathFlows more
// (the test's flows) or 3 minutes have passed, the status again, each
// NIC's sysfs queues, its channels and per-queue counters (ethtool's
// ioctl from Python: the image has no ethtool), virtio-net's XDP kernel
// messages and the daemon's fast-path log, then "end".
var fastpathScript = `#!/bin/sh
M="` + fastpathMarker + `"
fwd() { ` + images.BinaryPath + ` status | sed -n 's/.* forwarded=\([0-9]*\).*/\1/p'; }
f=0
for i in $(seq 300); do f=$(fwd); [ "${f:-0}" -gt 0 ] && break; sleep 1; done
[ "${f:-0}" -gt 0 ] || echo "${M}nothing forwarded after 300 s" > /dev/console
` + images.BinaryPath + ` status | sed "s/^/$M/" > /dev/console
want=$((f + ` + strconv.Itoa(2*fastpathFlows) + `))
for i in $(seq 180); do f=$(fwd); [ "${f:-0}" -ge "$want" ] && break; sleep 1; done
{
` + images.BinaryPath + ` status | sed "s/^/after /"
for n in eth0 eth1; do echo "queues $n $(cd /sys/class/net/$n/queues && echo *)"; done
python3 /run/e2e-nic-stats.py eth0 eth1 2>&1
dmesg | grep -i xdp | sed "s/^/dmesg /"
journalctl -b -o cat --no-pager -u vrouter.service | grep "fast path" | sed "s/^/log /"
echo end
} | sed "s/^/$M/" > /dev/console
`

// nicStatsScript prints, per interface named in its arguments, "nic NAME
// driver=D combined=C max_combined=M" and every non-zero per-queue counter
// as NAME=VALUE (ETHTOOL_GDRVINFO, GCHANNELS, GSTRINGS and GSTATS).
const nicStatsScript = `import array, fcntl, socket, struct, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ethtool(ifname, req):
    buf = array.array("B", req)
    fcntl.ioctl(sock, 0x8946, struct.pack("16sQ16x", ifname.encode(), buf.buffer_info()[0]))
    return buf.tobytes()
for ifname in sys.argv[1:]:
    info = ethtool(ifname, struct.pack("I", 0x03) + bytes(192))
    driver = info[4:36].split(b"\0")[0].decode()
    n = struct.unpack_from("I", info, 180)[0]
    ch = struct.unpack("9I", ethtool(ifname, struct.pack("9I", 0x3c, *[0] * 8)))
    raw = ethtool(ifname, struct.pack("3I", 0x1b, 1, n) + bytes(32 * n))[12:]
    names = [raw[i * 32:(i + 1) * 32].split(b"\0")[0].decode() for i in range(n)]
    vals = struct.unpack_from("%dQ" % n, ethtool(ifname, struct.pack("2I", 0x1d, n) + bytes(8 * n)), 8)
    print("nic %s driver=%s combined=%d max_combined=%d %s" % (ifname, driver, ch[8], ch[4],
          " ".join("%s=%d" % (k, v) for k, v in zip(names, vals) if v and "queue" in k)))
`

// bootFastpath boots the default config with the fast path on eth0 and
// eth1 with fastpath.io fpIO ("": auto, whose first choice is the XDP tier)
// and NICs of fastpathQueues queue pairs: the unit with the drop-in that
// `vrouter cloudinit` adds must run it over multi-queue virtio-net on the
// datapath whose status starts with want, VM1's pings must go through it
// (its forwarded counter grows), and VM1's flows from fastpathFlows
// addresses must be redirected by the XDP program on several receive
// queues of each NIC (see checkQueues). cpus ("[0, 1]", or "" for none)
// is fastpath.cpus: pinned workers and NAPI threads at a nice value, which
// the drop-in's CAP_SYS_NICE and syscalls allow.
func bootFastpath(t *testing.T, image, fpIO, cpus, want string) {
	fp := "\nfastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n"
	if fpIO != "" {
		fp += "  io: " + fpIO + "\n"
	}
	if cpus != "" {
		fp += "  cpus: " + cpus + "\n"
	}
	data := append(bytes.TrimRight(config.DefaultYAML(), "\n"), fp...)
	cc, _, err := cloudinit.Build(cloudinit.Options{NICs: vmNICs(t), ConfigName: "fastpath.yaml", Config: data})
	if err != nil {
		t.Fatal(err)
	}
	if cc.File(images.XDPDropInPath) == nil {
		t.Fatalf("user-data lacks the AF_XDP drop-in %s", images.XDPDropInPath)
	}
	cc.WriteFiles = append(cc.WriteFiles,
		cloudinit.WriteFile{Path: "/run/e2e-fastpath.sh", Content: fastpathScript, Permissions: "0644"},
		cloudinit.WriteFile{Path: "/run/e2e-nic-stats.py", Content: nicStatsScript, Permissions: "0644"})
	cc.Runcmd = append(cc.Runcmd, []string{"systemd-run", "--unit=e2e-fastpath", "--no-block", "sh", "/run/e2e-fastpath.sh"})
	_, vm := bootAndPing(t, image, cc, fastpathQueues)
	lab := vm.lab
	vm.waitSerial(t, fastpathMarker+"fast path: running=true", 6*time.Minute)
	if b, err := os.ReadFile(vm.serial); err != nil || bytes.Contains(b, []byte(fastpathMarker+"nothing forwarded")) {
		t.Errorf("the fast path forwarded none of VM1's pings (%v)", err)
	}

	// Flows from fastpathFlows more addresses of VM1, in parallel.
	start := time.Now()
	errs := make(chan error, fastpathFlows)
	for i := range fastpathFlows {
		src := fmt.Sprintf("2001:db8:0:2::%x", 0x100+i)
		mustRun(t, lab.ns("vm1"), "ip", "-6", "addr", "add", src+"/64", "dev", "eth0", "nodad")
		go func() {
			out, err := outputErr(lab.ns("vm1"), "ping", "-6", "-c", "3", "-i", "0.2", "-W", "3", "-I", src, addrUp)
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, out)
			}
			errs <- err
		}()
	}
	lost := 0
	for range fastpathFlows {
		if err := <-errs; err != nil {
			lost++
			t.Logf("flow: %v", err)
		}
	}
	t.Logf("%d flows of 3 pings from VM1 through the VM in %s, %d with losses", fastpathFlows, time.Since(start).Round(100*time.Millisecond), lost)
	vm.waitSerial(t, fastpathMarker+"end", 4*time.Minute)

	b, err := os.ReadFile(vm.serial)
	if err != nil {
		t.Fatal(err)
	}
	var io []string
	var after []string
	for _, l := range strings.Split(string(b), "\n") {
		i := strings.Index(l, fastpathMarker)
		if i < 0 || strings.Contains(l, "sed ") {
			continue
		}
		l = strings.TrimSpace(l[i+len(fastpathMarker):])
		t.Logf("VM: %s", l)
		if strings.HasPrefix(l, "io ") {
			io = append(io, l)
		}
		if strings.HasPrefix(l, "queues ") || strings.HasPrefix(l, "nic ") || strings.HasPrefix(l, "dmesg ") || strings.HasPrefix(l, "log ") {
			after = append(after, l)
		}
	}
	if len(io) != 2 {
		t.Fatalf("fast path status shows io lines %q, want eth0 and eth1", io)
	}
	for _, l := range io {
		if !strings.Contains(l, want) {
			t.Errorf("fast path io in the VM: %q, want %q (the drop-in's privileges?)", l, want)
		}
	}
	checkQueues(t, after, fpIO == config.FastpathIOAFXDP)
}

// checkQueues checks what the fast-path boot printed about the NICs'
// queues: each NIC has fastpathQueues combined channels, all of them in
// use (the XDP program attached); its XDP program redirected frames on at
// least two receive queues; virtio-net logged no fallback to shared
// transmit queues. With AF_XDP the daemon opened a socket on every receive
// queue (its "fast path port" log line); on the XDP tier (afXDP false) the
// redirects into each NIC left through virtio-net's XDP transmit queues,
// which come after the stack's.
func checkQueues(t *testing.T, lines []string, afXDP bool) {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, "dmesg ") && strings.Contains(l, "XDP request") {
			t.Errorf("virtio-net has too few queues for XDP: %s", l)
		}
	}
	for _, nic := range []string{"eth0", "eth1"} {
		var rx, tx int
		var stats map[string]string
		sockets := -1
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) >= 2 && f[0] == "queues" && f[1] == nic:
				for _, q := range f[2:] {
					if strings.HasPrefix(q, "rx-") {
						rx++
					} else if strings.HasPrefix(q, "tx-") {
						tx++
					}
				}
			case len(f) >= 2 && f[0] == "nic" && f[1] == nic:
				stats = map[string]string{}
				for _, kv := range f[2:] {
					if k, v, ok := strings.Cut(kv, "="); ok {
						stats[k] = v
					}
				}
			case f[0] == "log" && strings.Contains(l, `msg="fast path port"`) && strings.Contains(l, " link="+nic+" "):
				for _, kv := range f {
					if v, ok := strings.CutPrefix(kv, "queues="); ok {
						sockets, _ = strconv.Atoi(v)
					}
				}
			}
		}
		if stats == nil {
			t.Errorf("%s: no channels and counters from the VM", nic)
			continue
		}
		counter := func(k string) uint64 { n, _ := strconv.ParseUint(stats[k], 10, 64); return n }
		if stats["combined"] != strconv.Itoa(fastpathQueues) || stats["max_combined"] != strconv.Itoa(fastpathQueues) {
			t.Errorf("%s: combined channels %s of %s, want %d of %d (did the VM come up multi-queue?)",
				nic, stats["combined"], stats["max_combined"], fastpathQueues, fastpathQueues)
		}
		if rx != fastpathQueues {
			t.Errorf("%s: %d receive queues in sysfs, want %d", nic, rx, fastpathQueues)
		}
		var redirecting []int
		for q := range fastpathQueues {
			if counter(fmt.Sprintf("rx_queue_%d_xdp_redirects", q)) > 0 {
				redirecting = append(redirecting, q)
			}
		}
		if len(redirecting) < 2 {
			t.Errorf("%s: the XDP program redirected on receive queues %v only, want at least two", nic, redirecting)
		}
		if afXDP {
			if sockets != rx {
				t.Errorf("%s: the fast path has AF_XDP sockets on %d queues, the NIC receives on %d", nic, sockets, rx)
			}
			continue
		}
		var xdpTX uint64
		for q := tx; q < fastpathQueues; q++ {
			xdpTX += counter(fmt.Sprintf("tx_queue_%d_xdp_tx", q))
		}
		if tx >= fastpathQueues || xdpTX == 0 {
			t.Errorf("%s: %d frames on XDP transmit queues %d..%d, want some (redirects into the NIC on the stack's queues, under their lock?)",
				nic, xdpTX, tx, fastpathQueues-1)
		}
	}
}

// bootAndPing boots cc and waits until VM1 has its address and pings the
// ipv6-router through the VM; it returns qemu's start → VM1's address time.
func bootAndPing(t *testing.T, image string, cc *cloudinit.CloudConfig, queues int) (time.Duration, *vm) {
	lab := newLab(t, queues)
	vm := lab.boot(t, image, cc)

	// The router starts right after cloud-init's init stage, so VM1 gets
	// its address before cloud-init's final stage ends: wait for it first.
	waitFor(t, "VM1 to get "+addrVM1, finalTimeout+vm1Timeout, func() error {
		out, err := output(lab.ns("vm1"), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
		if err != nil {
			return err
		}
		if !strings.Contains(out, addrVM1+"/64") || strings.Contains(out, "tentative") {
			return fmt.Errorf("VM1 addresses: %q", out)
		}
		return nil
	})
	took := time.Since(vm.start)
	t.Logf("boot → VM1 address %s: %s", addrVM1, took.Round(100*time.Millisecond))

	vm.waitSerial(t, "vrouter: cloud-init final stage done", finalTimeout)
	t.Logf("cloud-init final after %s", time.Since(vm.start).Round(time.Second))
	select {
	case pre := <-vm.preKernel:
		// Firmware, extlinux loading the kernel and initrd, and qemu's
		// own start, against what the guest spent from its kernel on.
		t.Logf("qemu start → guest kernel start %s; VM1 had its address at guest uptime %s",
			pre.Round(100*time.Millisecond), (took - pre).Round(100*time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Logf("the guest's uptime did not show on the console")
	}
	vm.waitSerial(t, markerService+"active", 10*time.Second)
	// The config drive's files were written by vrouter-seed.service, ahead
	// of cloud-init (images/vrouter-seed.service): the early start ran.
	vm.waitSerial(t, "of the user-data's files written ahead of cloud-init", 10*time.Second)
	vm.logTimeline(t)
	vm.logAnalysis(t)
	// The VM's upstream SLAAC address answers from the ipv6-router.
	waitFor(t, "the VM's eth0 address "+addrVM+" to answer from ipv6-router", time.Minute, func() error {
		return run(lab.ns("up"), "ping", "-6", "-c", "1", "-W", "1", addrVM)
	})
	out, err := outputErr(lab.ns("vm1"), "ping", "-6", "-c", "3", "-W", "2", addrUp)
	if err != nil {
		t.Fatalf("VM1 cannot ping %s through the VM: %v\n%s", addrUp, err, out)
	}
	t.Logf("VM1 pings %s through the VM: %s", addrUp, lastLine(out))
	return took, vm
}

// bootBadConfig boots with an invalid vrouter.yaml (as if edited after
// rendering): the console must show the config error and the unit must
// fail, and the tenant link must get no router.
func bootBadConfig(t *testing.T, image string) {
	cc, _, err := cloudinit.Build(cloudinit.Options{NICs: vmNICs(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := cc.File(cloudinit.ConfigPath)
	f.Content = "interfaces:\n  eth0:\n    role: upstreem\n"
	lab := newLab(t, 1)
	vm := lab.boot(t, image, cc)
	vm.waitSerial(t, "vrouter: cloud-init final stage done", finalTimeout)
	// `vrouter check` in runcmd prints FILE:LINE:COL on the console.
	vm.waitSerial(t, cloudinit.ConfigPath+":3:11: interfaces.eth0.role", 5*time.Second)
	vm.waitSerial(t, markerService+"failed", 10*time.Second)
	if b, err := os.ReadFile(vm.serial); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "vrouter") && !strings.Contains(l, "ssh") {
				t.Logf("console: %s", strings.TrimSpace(l))
			}
		}
	}
	// Never a half-configured router: nothing is advertised on the tenant link.
	noRouter(t, lab, "a router whose config is invalid")
}

// bootNoConfig boots the image with user-data that has no vrouter config
// (any other instance of the image): vrouter.service is enabled but its
// condition keeps it from starting, so nothing is advertised on the tenant
// link, not even the embedded default.
func bootNoConfig(t *testing.T, image string) {
	cc := &cloudinit.CloudConfig{FinalMessage: cloudinit.FinalMessage}
	cc.Runcmd = append(cc.Runcmd, []string{"sh", "-c", `echo "` + markerCondition + `$(systemctl show -P ConditionResult vrouter.service)"`})
	lab := newLab(t, 1)
	vm := lab.boot(t, image, cc)
	vm.waitSerial(t, "vrouter: cloud-init final stage done", finalTimeout)
	vm.waitSerial(t, markerService+"inactive", 10*time.Second)
	vm.waitSerial(t, markerCondition+"no", 10*time.Second)
	noRouter(t, lab, "an image booted without vrouter config")
}

// markerCondition prefixes vrouter.service's ConditionResult on the console.
const markerCondition = "E2E vrouter.service condition="

// noRouter asks for a router on the tenant link from VM1 (rdisc6: three
// Router Solicitations, 2 s apart) and fails if one answers or if VM1 holds
// a tenant address.
func noRouter(t *testing.T, lab *lab, what string) {
	t.Helper()
	if out, err := outputErr(lab.ns("vm1"), "rdisc6", "-1", "-r", "3", "-w", "2000", "eth0"); err == nil {
		t.Errorf("VM1 got a Router Advertisement from %s:\n%s", what, out)
	}
	out, _ := output(lab.ns("vm1"), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if strings.Contains(out, "2001:db8:0:2:") {
		t.Errorf("VM1 got a tenant address from %s: %q", what, out)
	}
}

func vmNICs(t *testing.T) []cloudinit.NIC {
	var nics []cloudinit.NIC
	for _, s := range []string{"eth0=" + macVMEth0, "eth1=" + macVMEth1} {
		n, err := cloudinit.ParseNIC(s)
		if err != nil {
			t.Fatal(err)
		}
		nics = append(nics, n)
	}
	return nics
}

// lab is the namespaces of one boot.
type lab struct {
	prefix string
	dir    string
	queues int // queue pairs of the VM's NICs (taps with multi_queue and virtio-net mq=on when more than 1)
}

func (l *lab) ns(name string) string { return l.prefix + "-" + name }

func newLab(t *testing.T, queues int) *lab {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	l := &lab{prefix: "vrv" + hex.EncodeToString(b), dir: t.TempDir(), queues: max(queues, 1)}
	for _, n := range []string{"hv", "up", "vm1"} {
		mustRun(t, "", "ip", "netns", "add", l.ns(n))
		ns := l.ns(n)
		t.Cleanup(func() { _ = run("", "ip", "netns", "del", ns) })
	}
	hv, up, vm1 := l.ns("hv"), l.ns("up"), l.ns("vm1")
	tapMode := []string{"mode", "tap"}
	if l.queues > 1 {
		tapMode = append(tapMode, "multi_queue")
	}
	// hv holds the taps and bridges only: no IPv6 of its own.
	mustRun(t, hv, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	for _, cmd := range [][]string{
		{"ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"},
		{"ip", "link", "add", "br1", "type", "bridge", "mcast_snooping", "0"},
		append([]string{"ip", "tuntap", "add", "dev", "tap0"}, tapMode...),
		append([]string{"ip", "tuntap", "add", "dev", "tap1"}, tapMode...),
		{"ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", up},
		{"ip", "link", "add", "vm1p", "type", "veth", "peer", "name", "eth0", "netns", vm1},
		{"ip", "link", "set", "tap0", "master", "br0", "up"},
		{"ip", "link", "set", "up0", "master", "br0", "up"},
		{"ip", "link", "set", "tap1", "master", "br1", "up"},
		{"ip", "link", "set", "vm1p", "master", "br1", "up"},
		{"ip", "link", "set", "br0", "up"},
		{"ip", "link", "set", "br1", "up"},
	} {
		mustRun(t, hv, cmd...)
	}
	// ipv6-router: the Neutron router, with radvd.
	mustRun(t, up, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	mustRun(t, up, "ip", "link", "set", "lo", "up")
	mustRun(t, up, "ip", "addr", "add", addrUp+"/64", "dev", "eth0", "nodad")
	mustRun(t, up, "ip", "link", "set", "eth0", "up")
	mustRun(t, up, "ip", "-6", "route", "add", "2001:db8:0:2::/64", "via", addrVM, "dev", "eth0")
	conf := filepath.Join(l.dir, "radvd.conf")
	if err := os.WriteFile(conf, []byte(`interface eth0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 10;
	prefix 2001:db8:0:1::/64 { AdvOnLink on; AdvAutonomous on; };
};
`), 0o644); err != nil {
		t.Fatal(err)
	}
	radvd := exec.Command("ip", "netns", "exec", up, "radvd", "-n", "-C", conf, "-p", filepath.Join(l.dir, "radvd.pid"), "-m", "stderr")
	var radvdLog bytes.Buffer
	radvd.Stdout, radvd.Stderr = &radvdLog, &radvdLog
	if err := radvd.Start(); err != nil {
		t.Fatalf("radvd: %v", err)
	}
	t.Cleanup(func() {
		_ = radvd.Process.Kill()
		_ = radvd.Wait()
		if t.Failed() {
			t.Logf("radvd log:\n%s", tail(radvdLog.Bytes(), 2000))
		}
	})
	// VM1: a tenant host doing SLAAC.
	mustRun(t, vm1, "ip", "link", "set", "lo", "up")
	mustRun(t, vm1, "ip", "link", "set", "eth0", "address", macVM1)
	mustRun(t, vm1, "sysctl", "-qw", "net.ipv6.conf.eth0.use_tempaddr=0", "net.ipv6.conf.eth0.accept_ra=1")
	mustRun(t, vm1, "ip", "link", "set", "eth0", "up")
	return l
}

type vm struct {
	lab     *lab
	serial  string
	start   time.Time
	cancel  context.CancelFunc
	analyze bool // the VM prints where its boot time went (VROUTER_E2E_VM_ANALYZE=1)
	// preKernel receives, once, how long after qemu's start the guest's
	// kernel started: the host's time at which the console showed the
	// guest's uptime (markerUptime), less that uptime.
	preKernel chan time.Duration
}

// markerUptime prefixes the guest's /proc/uptime on the console.
const markerUptime = "E2E uptime "

// watchUptime polls the console every 20 ms for markerUptime and sends the
// time from qemu's start to the guest kernel's start on v.preKernel.
func (v *vm) watchUptime(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, _ := os.ReadFile(v.serial)
		seen := time.Since(v.start)
		var up float64
		ok := false
		for rest := b; !ok; {
			i := bytes.Index(rest, []byte(markerUptime+"="))
			if i < 0 {
				break
			}
			rest = rest[i+len(markerUptime)+1:]
			end := bytes.IndexAny(rest, " \r\n")
			if end < 0 {
				break // the line is not complete yet
			}
			// Skip anything that echoes the command rather than its output.
			if f, err := strconv.ParseFloat(string(rest[:end]), 64); err == nil {
				up, ok = f, true
			}
		}
		if !ok {
			continue
		}
		v.preKernel <- seen - time.Duration(up*float64(time.Second))
		return
	}
}

// boot writes a config drive for cc (as nova does) and starts qemu in the
// hv namespace with the two NICs.
func (l *lab) boot(t *testing.T, image string, cc *cloudinit.CloudConfig) *vm {
	t.Helper()
	// Observation hook: the unit's state on the console after runcmd.
	cc.Runcmd = append(cc.Runcmd,
		[]string{"sh", "-c", `echo "` + markerUptime + `=$(cut -d" " -f1 /proc/uptime) "`},
		[]string{"sh", "-c", `echo "` + markerService + `$(systemctl is-active vrouter.service)"`},
		[]string{"journalctl", "-b", "--no-pager", "-o", "cat", "-u", "vrouter-seed.service", "-u", "vrouter.service"},
		[]string{"ip", "-6", "addr", "show"},
		// When each stage ended, in seconds since the kernel started.
		[]string{"sh", "-c", `journalctl -b -o short-monotonic --no-pager -u cloud-init-local.service -u cloud-init.service ` +
			`-u systemd-networkd-wait-online.service -u vrouter-seed.service -u vrouter-setup.service -u vrouter.service | ` +
			`grep -E "(Started|Finished) " | sed "s/^/` + markerTimeline + `/"`},
	)
	analyze := os.Getenv("VROUTER_E2E_VM_ANALYZE") == "1"
	if analyze {
		// Once the boot has finished (cloud-final included): a transient
		// unit, so that the final stage does not wait for it.
		cc.Runcmd = append(cc.Runcmd, []string{"systemd-run", "--unit=e2e-analyze", "--description=e2e boot analysis", "--no-block",
			"sh", "-c", `systemctl is-system-running --wait >/dev/null; { ` + analyzeScript + `; } 2>&1 | sed "s/^/` + markerAnalyze + `/" >/dev/console; ` +
				`echo "` + markerAnalyze + `end" >/dev/console`})
	}
	ud, err := cloudinit.UserData(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cloudinit.NewInstanceID()
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(l.dir, "config-drive.iso")
	if err := cloudinit.WriteSeed(seed, cloudinit.Seed{
		Format: cloudinit.ConfigDrive, InstanceID: id, Hostname: "vrouter", UserData: ud,
		NICs: []cloudinit.SeedNIC{
			{MAC: mustMAC(t, macVMEth0), Type: "ipv6_slaac"},
			{MAC: mustMAC(t, macVMEth1)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(l.dir, "serial.log")
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"netns", "exec", l.ns("hv"),
		"timeout", "--kill-after=10", strconv.Itoa(int(bootTimeout.Seconds())),
		"qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "1024", "-smp", strconv.Itoa(vmCPUs),
		"-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
		"-serial", "file:" + serial,
		"-drive", "file=" + image + ",if=virtio,snapshot=on",
		"-drive", "file=" + seed + ",media=cdrom,readonly=on",
	}
	for i, mac := range []string{macVMEth0, macVMEth1} {
		netdev := fmt.Sprintf("tap,id=n%d,ifname=tap%d,script=no,downscript=no", i, i)
		dev := fmt.Sprintf("virtio-net-pci,netdev=n%d,mac=%s", i, mac)
		if l.queues > 1 {
			// A vector per virtqueue (N receive, N transmit) plus
			// config and control.
			netdev += fmt.Sprintf(",queues=%d", l.queues)
			dev += fmt.Sprintf(",mq=on,vectors=%d", 2*l.queues+2)
		}
		args = append(args, "-netdev", netdev, "-device", dev)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	var qlog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qlog, &qlog
	// Kill the whole group (ip netns exec → timeout → qemu) on cleanup.
	cmd.SysProcAttr = sysProcAttrGroup()
	cmd.Cancel = func() error { return killGroup(cmd) }
	v := &vm{lab: l, serial: serial, start: time.Now(), cancel: cancel, analyze: analyze, preKernel: make(chan time.Duration, 1)}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("qemu: %v", err)
	}
	go v.watchUptime(ctx)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("qemu did not exit")
		}
		if t.Failed() {
			s, _ := os.ReadFile(serial)
			t.Logf("qemu output:\n%s\nserial console (tail):\n%s", qlog.String(), tail(s, 12000))
		}
	})
	return v
}

// markerTimeline prefixes the journal's unit start/finish lines on the console.
const markerTimeline = "E2E timeline "

// logTimeline logs the VM's boot timeline (monotonic seconds since the
// kernel started) that the observation hook printed.
func (v *vm) logTimeline(t *testing.T) {
	t.Helper()
	b, _ := os.ReadFile(v.serial)
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, markerTimeline); i >= 0 && !strings.Contains(l, "sed ") {
			t.Logf("VM %s", strings.TrimSpace(l[i+len(markerTimeline):]))
		}
	}
}

// markerAnalyze prefixes the boot analysis lines on the console.
const markerAnalyze = "E2E analyze "

// analyzeScript prints where the boot's time went (VROUTER_E2E_VM_ANALYZE=1):
// systemd's view, the kernel's and the initramfs's milestones, the journal's
// milestones (monotonic seconds since the kernel started), ds-identify's run
// in the generator, the largest gaps between cloud-init's log lines (the
// step that started at the line took that long) and, measured after the
// boot, what Python's and cloud-init's imports cost.
const analyzeScript = `systemd-analyze time; systemd-analyze critical-chain vrouter-seed.service vrouter.service cloud-final.service; ` +
	`systemd-analyze blame | head -n 25; ` +
	`echo "-- kernel"; dmesg | grep -E "Run /init|Freeing unused kernel|EXT4-fs .vda1.: mounted|systemd 25[0-9] running" | head -n 8; ` +
	`echo "-- journal"; journalctl -b -o short-monotonic --no-pager | ` +
	`grep -E "Cloud-init v\\. |Reached target (sysinit|basic|network|network-online|multi-user)\\.target|Starting (cloud-init|vrouter)|Started vrouter|Finished (cloud|vrouter|systemd-networkd-wait)" | cut -c1-160; ` +
	`echo "-- ds-identify"; grep -h "\\[up " /run/cloud-init/ds-identify.log; ` +
	`echo "-- config drive (monotonic us: activating, active, main process start..exit)"; dmesg | grep -E "sr0|scsi .*CD-ROM" | head -n 4; ` +
	`for u in dev-sr0.device "dev-disk-by\\x2dlabel-config\\x2d2.device" vrouter-seed.service vrouter-setup.service vrouter.service; do ` +
	`echo "$u $(systemctl show -P InactiveExitTimestampMonotonic "$u") $(systemctl show -P ActiveEnterTimestampMonotonic "$u") ` +
	`main $(systemctl show -P ExecMainStartTimestampMonotonic "$u")..$(systemctl show -P ExecMainExitTimestampMonotonic "$u")"; done; ` +
	`journalctl -b -o short-monotonic --no-pager -u vrouter-seed.service | cut -c1-400; ` +
	`echo "-- vrouter"; journalctl -b -o short-monotonic --no-pager -u vrouter.service | head -n 30 | cut -c1-200; ` +
	`echo "-- cloud-init.log gaps"; awk '{split($2,t,/[:,]/); s=t[1]*3600+t[2]*60+t[3]+t[4]/1000; ` +
	`if (NR>1 && s-p>=0.4) printf "%6.2fs after %s\n", s-p, substr(prev,1,150); p=s; prev=$0}' /var/log/cloud-init.log | sort -rn | head -n 25; ` +
	`echo "-- python"; for m in "pass" "import cloudinit.cmd.main"; do s=$(date +%s%N); python3 -c "$m"; echo "python3 -c '$m': $(( ($(date +%s%N) - s) / 1000000 )) ms"; done; ` +
	`python3 -X importtime -c "import cloudinit.cmd.main" 2>&1 | sort -t"|" -k2 -n | tail -n 15; ` +
	`cloud-init analyze blame | head -n 30`

// logAnalysis waits for the VM's boot analysis, when it was asked for, and
// logs it.
func (v *vm) logAnalysis(t *testing.T) {
	t.Helper()
	if !v.analyze {
		return
	}
	v.waitSerial(t, markerAnalyze+"end", 3*time.Minute)
	b, _ := os.ReadFile(v.serial)
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, markerAnalyze); i >= 0 && !strings.Contains(l, "sed ") && !strings.Contains(l, "echo ") {
			t.Logf("VM %s", strings.TrimRight(l[i+len(markerAnalyze):], "\r "))
		}
	}
}

func (v *vm) waitSerial(t *testing.T, want string, d time.Duration) {
	t.Helper()
	waitFor(t, "serial console to show "+strconv.Quote(want), d, func() error {
		b, err := os.ReadFile(v.serial)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(want)) {
			return fmt.Errorf("not yet (%d bytes of console)", len(b))
		}
		return nil
	})
}

func waitFor(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", d, what, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func nsCmd(ns string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.Command(args[0], args[1:]...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

func run(ns string, args ...string) error {
	_, err := outputErr(ns, args...)
	return err
}

func mustRun(t *testing.T, ns string, args ...string) {
	t.Helper()
	if out, err := outputErr(ns, args...); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func output(ns string, args ...string) (string, error) {
	out, err := nsCmd(ns, args...).Output()
	return string(out), err
}

func outputErr(ns string, args ...string) (string, error) {
	out, err := nsCmd(ns, args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
