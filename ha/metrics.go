package ha

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus metrics of a Group. Create them once with
// NewMetrics and pass them with WithMetrics.
type Metrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	sent        *prometheus.CounterVec
	sendErrors  *prometheus.CounterVec
	received    *prometheus.CounterVec
	dropped     *prometheus.CounterVec
}

// NewMetrics creates the HA metrics and registers them on reg:
//
//	vrouter_ha_state{state}                          1 for the current state
//	vrouter_ha_transitions_total{from,to}
//	vrouter_ha_adverts_sent_total{iface,kind}        kind: advert, resign (priority 0)
//	vrouter_ha_send_errors_total{iface}
//	vrouter_ha_adverts_received_total{iface}         valid adverts
//	vrouter_ha_adverts_dropped_total{iface,reason}   reason: a DropReason
//
// Label values are the HA interface names of the config and fixed names.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "state",
			Help: "1 for the current VRRP state of the router (initialize, backup, active), 0 for the others.",
		}, []string{"state"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "transitions_total",
			Help: "VRRP state changes of the router.",
		}, []string{"from", "to"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "adverts_sent_total",
			Help: "VRRP advertisements sent, by kind (advert; resign: priority 0).",
		}, []string{"iface", "kind"}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "send_errors_total",
			Help: "VRRP advertisements that could not be sent.",
		}, []string{"iface"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "adverts_received_total",
			Help: "Valid VRRP advertisements received for our virtual router.",
		}, []string{"iface"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vrouter", Subsystem: "ha", Name: "adverts_dropped_total",
			Help: "VRRP packets discarded (RFC 9568 §7.1), by reason.",
		}, []string{"iface", "reason"}),
	}
	reg.MustRegister(m.state, m.transitions, m.sent, m.sendErrors, m.received, m.dropped)
	return m
}
