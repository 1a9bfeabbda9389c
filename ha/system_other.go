//go:build !linux

package ha

import (
	"context"
	"errors"
	"log/slog"
)

var errUnsupported = errors.New("ha: VRRP needs Linux")

// NewLinuxSystem returns a System whose every call fails: VRRP runs on
// Linux only.
func NewLinuxSystem(*slog.Logger) System { return otherSystem{} }

type otherSystem struct{}

func (otherSystem) Link(string) (Link, error)                        { return Link{}, errUnsupported }
func (otherSystem) Changes(context.Context) (<-chan struct{}, error) { return nil, errUnsupported }
func (otherSystem) Open(PortSpec) (Port, error)                      { return nil, errUnsupported }
