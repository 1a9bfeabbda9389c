package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ra"
)

// DefaultSocket is where `vrouter run` serves its status and where
// `vrouter status` asks for it.
const DefaultSocket = "/run/vrouter/vrouter.sock"

// Status is what `vrouter status` prints: a snapshot of the daemon.
type Status struct {
	Config     string               `json:"config"`
	Started    time.Time            `json:"started"`
	Reloaded   time.Time            `json:"reloaded,omitzero"`
	Forwarding *bool                `json:"forwarding,omitempty"`
	Interfaces []InterfaceStatus    `json:"interfaces"`
	Fastpath   *FastpathStatus      `json:"fastpath,omitempty"`
	NDProxy    []ndproxy.RuleStatus `json:"ndproxy,omitempty"`
	// HA is the VRRP group's state, peer and counters when the router is
	// one of an HA pair.
	HA *ha.Status `json:"ha,omitempty"`
	// Components is every component as its supervisor sees it.
	Components []ComponentStatus `json:"components,omitempty"`
	// Watcher is the netlink watcher's state.
	Watcher *netwatch.Status `json:"watcher,omitempty"`
}

// InterfaceStatus is the state of one configured interface.
type InterfaceStatus struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Configured bool   `json:"configured"`
	Advertise  bool   `json:"advertise"`
	// Advertising is true once the first RA went out.
	Advertising bool `json:"advertising"`
	// RA holds the advertiser's counters when the interface advertises.
	RA *ra.Status `json:"ra,omitempty"`
	// DHCPv6 holds the DHCPv6 server's counters and leases while one runs.
	DHCPv6 *dhcpv6.Status `json:"dhcpv6,omitempty"`
	// PrefixDelegation is the prefix-delegation client of an upstream
	// interface with prefix_delegation.
	PrefixDelegation *pdclient.Status `json:"prefix_delegation,omitempty"`
	// Delegated is the /64 a delegated downstream interface takes.
	Delegated *DelegatedStatus `json:"delegated,omitempty"`
}

// listenStatus binds the unix socket at path. A stale socket left by a dead
// daemon is replaced; one a live daemon answers on is an error.
func listenStatus(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("status socket %s: another vrouter is running", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return l, nil
}

// serveStatus answers every connection with one JSON document and closes it.
func serveStatus(l net.Listener, snapshot func() Status) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			enc := json.NewEncoder(c)
			enc.SetIndent("", "  ")
			_ = enc.Encode(snapshot())
		}()
	}
}

// QueryStatus asks the daemon listening on path for its status.
func QueryStatus(path string) (Status, error) {
	var st Status
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return st, fmt.Errorf("no vrouter running (no socket at %s)", path)
		}
		return st, fmt.Errorf("status: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	data, err := io.ReadAll(c)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("status: bad answer: %w", err)
	}
	return st, nil
}
