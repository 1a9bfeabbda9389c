package ra

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is the kind of a Router Advertisement sent.
type Kind uint8

// Kinds of RAs sent.
const (
	// KindUnsolicited: a periodic multicast RA (RFC 4861 §6.2.4).
	KindUnsolicited Kind = iota
	// KindSolicitedMulticast: a multicast reply to RSs (§6.2.6).
	KindSolicitedMulticast
	// KindSolicitedUnicast: a unicast reply to an RS (RFC 7772).
	KindSolicitedUnicast
	// KindFinal: a final RA of a stopping router (§6.2.5).
	KindFinal
	numKinds
)

var kindNames = [numKinds]string{"unsolicited", "solicited_multicast", "solicited_unicast", "final"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// The metrics of the advertisers, labelled by interface. Label values are
// the interface names of the config and the fixed names of Kind,
// DropReason and Field.
var (
	descSent = prometheus.NewDesc("vrouter_ra_advertisements_sent_total",
		"Router Advertisements sent, by kind (unsolicited, solicited_multicast, solicited_unicast, final).", []string{"iface", "kind"}, nil)
	descRSReceived = prometheus.NewDesc("vrouter_ra_solicitations_received_total",
		"Router Solicitations received, valid or not.", []string{"iface"}, nil)
	descRSDropped = prometheus.NewDesc("vrouter_ra_solicitations_dropped_total",
		"Router Solicitations not answered on their own, by reason (RFC 4861 §6.1.1 checks; rate_limited: answered by the next multicast RA).", []string{"iface", "reason"}, nil)
	descInconsistent = prometheus.NewDesc("vrouter_ra_inconsistencies_total",
		"Router Advertisements of other routers inconsistent with ours (RFC 4861 §6.2.7), by field.", []string{"iface", "field"}, nil)
	descErrors = prometheus.NewDesc("vrouter_ra_errors_total",
		"Socket and link errors that made the advertiser wait for its link again.", []string{"iface"}, nil)
	descLastMulticast = prometheus.NewDesc("vrouter_ra_last_multicast_timestamp_seconds",
		"Unix time of the last multicast Router Advertisement.", []string{"iface"}, nil)
	descWithdrawing = prometheus.NewDesc("vrouter_ra_withdrawing_items",
		"Prefixes, routes, DNS servers and domains advertised with zero lifetimes (RFC 9096).", []string{"iface"}, nil)
)

// DescribeMetrics sends the descriptions of the metrics WriteMetrics sends.
func DescribeMetrics(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descRSReceived, descRSDropped, descInconsistent, descErrors, descLastMulticast, descWithdrawing} {
		ch <- d
	}
}

// WriteMetrics sends the metrics of one advertiser's status snapshot:
//
//	vrouter_ra_advertisements_sent_total{iface,kind}
//	vrouter_ra_solicitations_received_total{iface}
//	vrouter_ra_solicitations_dropped_total{iface,reason}
//	vrouter_ra_inconsistencies_total{iface,field}
//	vrouter_ra_errors_total{iface}
//	vrouter_ra_last_multicast_timestamp_seconds{iface}
//	vrouter_ra_withdrawing_items{iface}
//
// Every kind, reason and field is sent, zero or not. Metrics are computed
// from snapshots on scrape (the daemon's collector calls this for each
// advertiser in its status): the advertiser keeps plain counters only.
func WriteMetrics(ch chan<- prometheus.Metric, st Status) {
	ctr, g := prometheus.CounterValue, prometheus.GaugeValue
	for k := range numKinds {
		ch <- prometheus.MustNewConstMetric(descSent, ctr, float64(st.Sent[k.String()]), st.Interface, k.String())
	}
	ch <- prometheus.MustNewConstMetric(descRSReceived, ctr, float64(st.SolicitationsReceived), st.Interface)
	for r := range numDropReasons {
		ch <- prometheus.MustNewConstMetric(descRSDropped, ctr, float64(st.SolicitationsDropped[r.String()]), st.Interface, r.String())
	}
	for f := range numFields {
		ch <- prometheus.MustNewConstMetric(descInconsistent, ctr, float64(st.Inconsistencies[f.String()]), st.Interface, f.String())
	}
	ch <- prometheus.MustNewConstMetric(descErrors, ctr, float64(st.Errors), st.Interface)
	last := 0.0
	if !st.LastMulticast.IsZero() {
		last = float64(st.LastMulticast.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descLastMulticast, g, last, st.Interface)
	ch <- prometheus.MustNewConstMetric(descWithdrawing, g, float64(st.Withdrawing), st.Interface)
}

// Metrics is a Prometheus collector of the advertisers passed WithMetrics,
// for programs that run advertisers without the daemon (whose collector
// calls WriteMetrics itself).
type Metrics struct {
	mu   sync.Mutex
	advs []*Advertiser
}

// NewMetrics creates a collector of advertisers and registers it on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	reg.MustRegister(m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { DescribeMetrics(ch) }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	advs := append([]*Advertiser(nil), m.advs...)
	m.mu.Unlock()
	for _, a := range advs {
		WriteMetrics(ch, a.Status())
	}
}

func (m *Metrics) add(a *Advertiser) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advs = append(m.advs, a)
}
