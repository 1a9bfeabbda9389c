//go:build linux

package e2e

import (
	"slices"
	"testing"
)

func TestKeepalivedVIPs(t *testing.T) {
	want := [][2]string{{"fe80::1/64", "eth1"}, {"2001:db8:0:2::1/64", "eth1"}, {"2001:db8:0:1::fe/64", "eth0"}}
	if got := keepalivedVIPs(); !slices.Equal(got, want) {
		t.Errorf("keepalivedVIPs() = %v, want %v", got, want)
	}
}
