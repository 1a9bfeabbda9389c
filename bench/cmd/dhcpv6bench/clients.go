package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// exchangeStats is one "***Statistics for: X***" block of perfdhcp.
type exchangeStats struct {
	Sent, Received, Drops, Orphans, Rejected uint64
	MinMS, AvgMS, MaxMS, StdMS               float64
}

// perfdhcpResult is what the harness reads from perfdhcp's final report.
type perfdhcpResult struct {
	Rate   float64 // its own "Rate:" line
	SA, RR exchangeStats
}

// parsePerfdhcp reads the final report of `perfdhcp -6` (Kea 2.2) in the
// four-message exchange: the SOLICIT-ADVERTISE and REQUEST-REPLY blocks.
func parsePerfdhcp(r io.Reader) (perfdhcpResult, error) {
	var res perfdhcpResult
	var cur *exchangeStats
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "Rate:"):
			f := strings.Fields(l)
			if len(f) >= 2 {
				res.Rate, _ = strconv.ParseFloat(f[1], 64)
			}
			seen["rate"] = true
			continue
		case l == "***Statistics for: SOLICIT-ADVERTISE***":
			cur = &res.SA
			seen["sa"] = true
			continue
		case l == "***Statistics for: REQUEST-REPLY***":
			cur = &res.RR
			seen["rr"] = true
			continue
		case strings.HasPrefix(l, "***"):
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "ms"))
		n, _ := strconv.ParseUint(v, 10, 64)
		x, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "sent packets":
			cur.Sent = n
		case "received packets":
			cur.Received = n
		case "drops":
			cur.Drops = n
		case "orphans":
			cur.Orphans = n
		case "rejected leases":
			cur.Rejected = n
		case "min delay":
			cur.MinMS = x
		case "avg delay":
			cur.AvgMS = x
		case "max delay":
			cur.MaxMS = x
		case "std deviation":
			cur.StdMS = x
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	for _, k := range []string{"rate", "sa", "rr"} {
		if !seen[k] {
			return res, fmt.Errorf("perfdhcp output has no %s report", map[string]string{"rate": "rate", "sa": "SOLICIT-ADVERTISE", "rr": "REQUEST-REPLY"}[k])
		}
	}
	return res, nil
}

// loadResult is the JSON line of bench/cmd/d6load.
type loadResult struct {
	Mode       string  `json:"mode"`
	Target     float64 `json:"target"`
	Offered    float64 `json:"offered"`
	Rate       float64 `json:"rate"`
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	Completed  uint64  `json:"completed"`
	Late       uint64  `json:"late"`
	NoAddrs    uint64  `json:"no_addrs"`
	Advertised uint64  `json:"advertised"`
	Orphans    uint64  `json:"orphans"`
	Malformed  uint64  `json:"malformed"`
	P50US      int     `json:"p50_us"`
	P99US      int     `json:"p99_us"`
	P999US     int     `json:"p999_us"`
	MaxUS      int     `json:"max_us"`
	CPU        float64 `json:"cpu"`
}

func parseLoad(b []byte) (loadResult, error) {
	var r loadResult
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("d6load output %q: %w", b, err)
	}
	return r, nil
}

// trial is one measurement: a client offering a rate to a server.
type trial struct {
	Server, Mode, Client string
	Round                int
	Target, Offered      float64 // asked and sent Solicits per second
	Achieved             float64 // exchanges completed per second
	ClientCPU            float64 // client CPU seconds per second (1 = its whole CPU)
	ServerCPU            float64
	// OtherCPU is the user and system time of CPU1 (the server's) not
	// spent by the server, per second: other work on a shared machine
	// (the server's kernel receive work is softirq time, not counted).
	OtherCPU float64
	// SoftirqCPU and IdleCPU are CPU1's interrupt (mostly the receive
	// processing of the server's link) and idle time per second.
	SoftirqCPU, IdleCPU float64
	// Capped: the client, not the server, was the limit (it used ≥ 90 %
	// of its CPU or could not send 95 % of the target): never used for a
	// peak or a ratio.
	Capped       bool
	RcvbufErrors uint64 // Udp6RcvbufErrors in the server's namespace
	// Latency of the whole exchange, Solicit to the committing Reply (µs):
	// d6load only.
	P50US, P99US, MaxUS int
	// perfdhcp only: its mean and max of the Request-Reply delay (ms).
	AvgMS, MaxMS float64
	Note         string
}

// series names the ladder a trial belongs to: CLIENT-EXCHANGE.
func (t trial) series() string { return t.Client + "-" + t.Mode }

func capped(target, offered, clientCPU float64) bool {
	return clientCPU >= 0.9 || offered < 0.95*target
}

// modeName is the exchange of a mode: 4way (Solicit, Advertise, Request,
// Reply) or rapid (Solicit with Rapid Commit, Reply).
func modeName(m string) string {
	if m == "rapid" {
		return "Rapid Commit (Solicit→Reply)"
	}
	return "4-message (Solicit→Advertise→Request→Reply)"
}

// ladderNext returns the next offered rate of a ladder after the points so
// far (twice the last), or 0 when the ladder is done: a point was
// client-capped, the last offered rate is at least 2.5× the best achieved
// one (an overload point past 2× the peak exists), or max points were run.
func ladderNext(pts []trial, max int) float64 {
	if len(pts) == 0 {
		return 0
	}
	last := pts[len(pts)-1]
	if last.Capped || len(pts) >= max {
		return 0
	}
	best := 0.0
	for _, p := range pts {
		if !p.Capped {
			best = math.Max(best, p.Achieved)
		}
	}
	if last.Offered >= 2.5*best {
		return 0
	}
	return 2 * last.Target
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
