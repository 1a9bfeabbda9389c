//go:build !linux

package fastpath

import (
	"errors"
	"log/slog"
)

func newOSSystem(*slog.Logger, string, []int, bool, [2]int, *RingConfig, *XDPConfig) (System, error) {
	return nil, errors.New("fastpath: AF_PACKET forwarding needs Linux")
}

func pinThread(cpus []int) (func(), error) { return func() {}, nil }
