//go:build !linux

package dhcpv6

import "os"

func datasync(f *os.File) error { return f.Sync() }
