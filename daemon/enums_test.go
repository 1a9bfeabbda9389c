package daemon

import (
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ra"
)

// names lists String() of an enum from 0 until it says "unknown".
func names[T ~uint8](v func(T) string) []string {
	var out []string
	for i := 0; i < 256; i++ {
		s := v(T(i))
		if s == "unknown" {
			break
		}
		out = append(out, s)
	}
	return out
}

// enumNames are the label values of every package's reason enums.
func enumNames() map[string][]string {
	return map[string][]string{
		"ra.DropReason":         names(ra.DropReason.String),
		"ra.Kind":               names(ra.Kind.String),
		"ra.Field":              names(ra.Field.String),
		"ndproxy.DropReason":    names(ndproxy.DropReason.String),
		"dhcpv6.DropReason":     names(dhcpv6.DropReason.String),
		"fastpath.DropReason":   names(fastpath.DropReason.String),
		"fastpath.KernelReason": names(fastpath.KernelReason.String),
		"component state":       {string(StateStarting), string(StateReady), string(StateBackoff), string(StateStopped)},
		"ra.State":              {string(ra.StateWaiting), string(ra.StateAdvertising), string(ra.StateStopped)},
	}
}
