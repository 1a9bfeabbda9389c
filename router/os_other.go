//go:build !linux

package router

import (
	"errors"
	"net/netip"
)

var errUnsupported = errors.New("router: only supported on linux")

// LinuxOS returns an OS whose every method fails: the real one exists only
// on Linux.
func LinuxOS() OS { return unsupportedOS{} }

type unsupportedOS struct{}

func (unsupportedOS) Link(string) (Link, error)              { return Link{}, errUnsupported }
func (unsupportedOS) SetLinkUp(string) error                 { return errUnsupported }
func (unsupportedOS) SetMTU(string, int) error               { return errUnsupported }
func (unsupportedOS) Addrs(string) ([]netip.Prefix, error)   { return nil, errUnsupported }
func (unsupportedOS) ReplaceAddr(string, netip.Prefix) error { return errUnsupported }
func (unsupportedOS) DeleteAddr(string, netip.Prefix) error  { return errUnsupported }
func (unsupportedOS) Sysctl(string) (string, error)          { return "", errUnsupported }
func (unsupportedOS) SetSysctl(string, string) error         { return errUnsupported }
func (unsupportedOS) SolicitRouters(string) error            { return errUnsupported }

// CheckPrivileges fails: the daemon runs only on Linux.
func CheckPrivileges() error { return errUnsupported }
