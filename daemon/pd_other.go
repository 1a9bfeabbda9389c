//go:build !linux

package daemon

import "net/netip"

func pdKernelRoutes([]netip.Prefix) error { return nil }

func linkCarrier(any) (string, bool, bool) { return "", false, false }
