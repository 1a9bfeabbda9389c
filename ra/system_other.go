//go:build !linux

package ra

import (
	"fmt"
	"os"
)

// errUnsupported wraps os.ErrPermission so that Run gives up at once.
var errUnsupported = fmt.Errorf("router advertisements need linux: %w", os.ErrPermission)

func defaultSystem() System { return unsupportedSystem{} }

type unsupportedSystem struct{}

func (unsupportedSystem) LinkState(string) (LinkState, error) { return LinkState{}, errUnsupported }
func (unsupportedSystem) Listen(string) (Conn, error)         { return nil, errUnsupported }
func (unsupportedSystem) Forwarding(string) (bool, error)     { return false, errUnsupported }
