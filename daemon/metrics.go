package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrouter/vrouter/metrics"
	"github.com/vrouter/vrouter/ra"
)

// collector exports the daemon's status snapshot as Prometheus metrics on
// scrape, so the packages keep plain counters and no metric state of
// their own; it is the daemon's one metrics mechanism (the RA metrics'
// names live in ra.WriteMetrics). Labels are bounded: interface names and prefixes come from
// the config, reasons from typed enums.
type collector struct {
	snapshot func() Status

	configured, advertising                   *prometheus.Desc
	ndpTargets, ndpPending, ndpActive         *prometheus.Desc
	ndpAnswered, ndpDefended, ndpProbes       *prometheus.Desc
	ndpUnsolicited, ndpDropped                *prometheus.Desc
	fpRunning, fpReceived, fpForwarded, fpPTB *prometheus.Desc
	fpToKernel, fpDropped, fpUnreach, fpLimit *prometheus.Desc
	fpRingDropped                             *prometheus.Desc
	compReady, compRestarts                   *prometheus.Desc
	nwSubscribed, nwResyncs, nwOverflows      *prometheus.Desc
}

func newCollector(snapshot func() Status) *collector {
	d := func(sub, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, sub, name), help, labels, nil)
	}
	rule := []string{"upstream", "downstream", "prefix"}
	return &collector{
		snapshot:       snapshot,
		configured:     d("router", "interface_configured", "1 when the interface exists and was fully configured on the last pass.", "iface"),
		advertising:    d("ra", "advertising", "1 once the interface's advertiser has sent its first RA.", "iface"),
		ndpActive:      d("ndproxy", "active", "1 while both interfaces of the rule exist and the proxy listens.", rule...),
		ndpTargets:     d("ndproxy", "targets", "Learned proxied targets (auto mode).", rule...),
		ndpPending:     d("ndproxy", "pending_targets", "Targets being probed downstream.", rule...),
		ndpAnswered:    d("ndproxy", "ns_answered_total", "Neighbor Solicitations answered, by kind (multicast, unicast).", append(rule, "kind")...),
		ndpDefended:    d("ndproxy", "dad_defended_total", "DAD probes answered to defend a proxied address.", rule...),
		ndpProbes:      d("ndproxy", "probes_sent_total", "Neighbor Solicitations sent downstream to confirm targets.", rule...),
		ndpUnsolicited: d("ndproxy", "unsolicited_sent_total", "Unsolicited Neighbor Advertisements sent upstream.", rule...),
		ndpDropped:     d("ndproxy", "ns_dropped_total", "Neighbor Solicitations not answered, by reason.", append(rule, "reason")...),
		fpRunning:      d("fastpath", "running", "1 while the fast path forwards."),
		fpReceived:     d("fastpath", "received_total", "Frames read from fast-path interfaces."),
		fpForwarded:    d("fastpath", "forwarded_total", "Frames forwarded by the fast path."),
		fpToKernel:     d("fastpath", "to_kernel_total", "Frames left to the kernel, by reason.", "reason"),
		fpDropped:      d("fastpath", "dropped_total", "Frames taken but not forwarded, by reason.", "reason"),
		fpPTB:          d("fastpath", "packet_too_big_sent_total", "ICMPv6 Packet Too Big messages sent."),
		fpUnreach:      d("fastpath", "unreachable_sent_total", "ICMPv6 Destination Unreachable messages sent."),
		fpLimit:        d("fastpath", "icmp_rate_limited_total", "ICMPv6 errors not sent because of the rate limit."),
		fpRingDropped:  d("fastpath", "rx_ring_dropped_total", "Frames the kernel dropped because a fast-path receive ring was full."),
		compReady:      d("component", "ready", "1 while the component is ready (not starting, in back-off or stopped).", "component"),
		compRestarts:   d("component", "restarts_total", "Failures after which the supervisor restarted the component.", "component"),
		nwSubscribed:   d("netwatch", "subscribed", "1 while the netlink subscription is open."),
		nwResyncs:      d("netwatch", "resyncs_total", "Netlink subscriptions lost (ENOBUFS, socket errors) and reopened, each followed by a resync of every component."),
		nwOverflows:    d("netwatch", "overflows_total", "Subscriber event queues that overflowed, each followed by a resync of that subscriber."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.snapshot()
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	for _, i := range st.Interfaces {
		ch <- prometheus.MustNewConstMetric(c.configured, g, b2f(i.Configured), i.Name)
		if i.Advertise {
			ch <- prometheus.MustNewConstMetric(c.advertising, g, b2f(i.Advertising), i.Name)
		}
		if i.RA != nil {
			ra.WriteMetrics(ch, *i.RA)
		}
		if i.DHCPv6 != nil {
			writeDHCPv6Metrics(ch, *i.DHCPv6)
		}
		if i.PrefixDelegation != nil {
			writePDMetrics(ch, *i.PrefixDelegation, time.Now())
		}
	}
	for _, r := range st.NDProxy {
		l := []string{r.Upstream, r.Downstream, r.Prefix.String()}
		ch <- prometheus.MustNewConstMetric(c.ndpActive, g, b2f(r.Active), l...)
		ch <- prometheus.MustNewConstMetric(c.ndpTargets, g, float64(len(r.Targets)), l...)
		ch <- prometheus.MustNewConstMetric(c.ndpPending, g, float64(r.Pending), l...)
		ch <- prometheus.MustNewConstMetric(c.ndpAnswered, ctr, float64(r.Answered-r.AnsweredUnicast), append(l, "multicast")...)
		ch <- prometheus.MustNewConstMetric(c.ndpAnswered, ctr, float64(r.AnsweredUnicast), append(l, "unicast")...)
		ch <- prometheus.MustNewConstMetric(c.ndpDefended, ctr, float64(r.Defended), l...)
		ch <- prometheus.MustNewConstMetric(c.ndpProbes, ctr, float64(r.Probes), l...)
		ch <- prometheus.MustNewConstMetric(c.ndpUnsolicited, ctr, float64(r.Unsolicited), l...)
		for reason, n := range r.Dropped {
			ch <- prometheus.MustNewConstMetric(c.ndpDropped, ctr, float64(n), append(l, reason)...)
		}
	}
	for _, cs := range st.Components {
		ch <- prometheus.MustNewConstMetric(c.compReady, g, b2f(cs.State == StateReady), cs.Name)
		ch <- prometheus.MustNewConstMetric(c.compRestarts, ctr, float64(cs.Restarts), cs.Name)
	}
	if w := st.Watcher; w != nil {
		ch <- prometheus.MustNewConstMetric(c.nwSubscribed, g, b2f(w.Subscribed))
		ch <- prometheus.MustNewConstMetric(c.nwResyncs, ctr, float64(w.Resyncs))
		ch <- prometheus.MustNewConstMetric(c.nwOverflows, ctr, float64(w.Overflows))
	}
	if st.HA != nil {
		writeHAMetrics(ch, *st.HA)
	}
	if fp := st.Fastpath; fp != nil {
		ch <- prometheus.MustNewConstMetric(c.fpRunning, g, b2f(fp.Running))
		ch <- prometheus.MustNewConstMetric(c.fpReceived, ctr, float64(fp.Received))
		ch <- prometheus.MustNewConstMetric(c.fpForwarded, ctr, float64(fp.Forwarded))
		ch <- prometheus.MustNewConstMetric(c.fpPTB, ctr, float64(fp.PacketTooBig))
		ch <- prometheus.MustNewConstMetric(c.fpUnreach, ctr, float64(fp.Unreachable))
		ch <- prometheus.MustNewConstMetric(c.fpLimit, ctr, float64(fp.ICMPRateLimited))
		ch <- prometheus.MustNewConstMetric(c.fpRingDropped, ctr, float64(fp.RxRingDropped))
		for reason, n := range fp.ToKernel {
			ch <- prometheus.MustNewConstMetric(c.fpToKernel, ctr, float64(n), reason)
		}
		for reason, n := range fp.Dropped {
			ch <- prometheus.MustNewConstMetric(c.fpDropped, ctr, float64(n), reason)
		}
	}
}
