package ra

import (
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

// Metrics are the Prometheus metrics of the advertisers, labelled by
// interface. Create them once with NewMetrics and pass them to every
// Advertiser with WithMetrics.
type Metrics struct {
	sent          *prometheus.CounterVec
	rsReceived    *prometheus.CounterVec
	rsDropped     *prometheus.CounterVec
	inconsistent  *prometheus.CounterVec
	errors        *prometheus.CounterVec
	lastMulticast *prometheus.GaugeVec
	withdrawing   *prometheus.GaugeVec
}

// NewMetrics creates the RA metrics and registers them on reg:
//
//	vrouter_ra_advertisements_sent_total{iface,kind}
//	vrouter_ra_solicitations_received_total{iface}
//	vrouter_ra_solicitations_dropped_total{iface,reason}
//	vrouter_ra_inconsistencies_total{iface,field}
//	vrouter_ra_errors_total{iface}
//	vrouter_ra_last_multicast_timestamp_seconds{iface}
//	vrouter_ra_withdrawing_items{iface}
//
// The label values are the interface names of the config and the fixed
// names of Kind, DropReason and Field.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "advertisements_sent_total",
			Help: "Router Advertisements sent, by kind (unsolicited, solicited_multicast, solicited_unicast, final).",
		}, []string{"iface", "kind"}),
		rsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "solicitations_received_total",
			Help: "Router Solicitations received, valid or not.",
		}, []string{"iface"}),
		rsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "solicitations_dropped_total",
			Help: "Router Solicitations not answered on their own, by reason (RFC 4861 §6.1.1 checks; rate_limited: answered by the next multicast RA).",
		}, []string{"iface", "reason"}),
		inconsistent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "inconsistencies_total",
			Help: "Router Advertisements of other routers inconsistent with ours (RFC 4861 §6.2.7), by field.",
		}, []string{"iface", "field"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "errors_total",
			Help: "Socket and link errors that made the advertiser wait for its link again.",
		}, []string{"iface"}),
		lastMulticast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "last_multicast_timestamp_seconds",
			Help: "Unix time of the last multicast Router Advertisement.",
		}, []string{"iface"}),
		withdrawing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "vrouter", Subsystem: "ra", Name: "withdrawing_items",
			Help: "Prefixes, routes, DNS servers and domains advertised with zero lifetimes (RFC 9096).",
		}, []string{"iface"}),
	}
	reg.MustRegister(m.sent, m.rsReceived, m.rsDropped, m.inconsistent, m.errors, m.lastMulticast, m.withdrawing)
	return m
}

// ifaceMetrics are the metrics of one interface, with labels bound once.
type ifaceMetrics struct {
	sent          [numKinds]prometheus.Counter
	rsReceived    prometheus.Counter
	rsDropped     [numDropReasons]prometheus.Counter
	inconsistent  [numFields]prometheus.Counter
	errors        prometheus.Counter
	lastMulticast prometheus.Gauge
	withdrawing   prometheus.Gauge
}

func (m *Metrics) forIface(iface string) *ifaceMetrics {
	if m == nil {
		return nil
	}
	im := &ifaceMetrics{
		rsReceived:    m.rsReceived.WithLabelValues(iface),
		errors:        m.errors.WithLabelValues(iface),
		lastMulticast: m.lastMulticast.WithLabelValues(iface),
		withdrawing:   m.withdrawing.WithLabelValues(iface),
	}
	for k := range numKinds {
		im.sent[k] = m.sent.WithLabelValues(iface, k.String())
	}
	for r := range numDropReasons {
		im.rsDropped[r] = m.rsDropped.WithLabelValues(iface, r.String())
	}
	for f := range numFields {
		im.inconsistent[f] = m.inconsistent.WithLabelValues(iface, f.String())
	}
	return im
}
