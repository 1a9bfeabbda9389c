package main

import (
	"fmt"
	"os"
	"strings"
)

// rcuExpeditedPath is the switch that makes synchronize_rcu() expedited:
// it forces a grace period with IPIs instead of waiting for every CPU to
// pass through a quiescent state.
const rcuExpeditedPath = "/sys/kernel/rcu_expedited"

// expediteRCU sets path to "1" for the live-frames trials and returns what
// puts the previous value back, or why it could not set it (then the
// returned function does nothing).
//
// Every BPF_PROG_RUN with live frames creates a page pool and, at its end,
// waits for an RCU grace period before it returns. How long that takes
// depends on the kernel's configuration, not on the frames: measured with
// runs into an XDP_DROP peer on an otherwise idle machine (Linux 6.18,
// HZ=250), 24 ms per run of 64 to 8192 frames (13 µs for a single frame,
// which takes no pool), 0.2–0.4 ms with rcu_expedited=1; on another machine
// of the same class 0.45 ms without it. At 24 ms per run v6gen offered
// 40 kpps instead of a fixed 300 kpps and 1.6 Mpps flat out: the trials
// measured the grace period. Expedited grace periods interrupt the other
// CPUs (the router's) once per run, a few microseconds each: at most a few
// hundred per second at the fixed rate.
func expediteRCU(path string) (restore func(), err error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return func() {}, err
	}
	prev := strings.TrimSpace(string(old))
	if prev == "1" {
		return func() {}, nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return func() {}, err
	}
	return func() {
		if err := os.WriteFile(path, []byte(prev), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: restore %s to %s: %v\n", path, prev, err)
		}
	}, nil
}

// rcuNote is what the report's header says about the live-frames trials'
// grace periods.
func rcuNote() string {
	if !*live {
		return ""
	}
	if *rcuExp {
		return "; live frames with expedited RCU grace periods (" + rcuExpeditedPath + " = 1 during those trials)"
	}
	return "; live frames with the kernel's own RCU grace periods (-rcu-expedited=false)"
}
