package router

import (
	"testing"

	"golang.org/x/sys/unix"
)

// hasCaps reports whether this process holds CAP_NET_ADMIN and CAP_NET_RAW
// in its effective set, asked through capget(2) rather than /proc.
func hasCaps(t *testing.T) bool {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	eff := data[0].Effective
	return eff&(1<<capNetAdmin) != 0 && eff&(1<<capNetRaw) != 0
}

func TestCheckPrivilegesHere(t *testing.T) {
	err := CheckPrivileges()
	t.Logf("CheckPrivileges() = %v", err)
	if want := hasCaps(t); (err == nil) != want {
		t.Errorf("CheckPrivileges() = %v, but capget says capabilities present = %v", err, want)
	}
}
