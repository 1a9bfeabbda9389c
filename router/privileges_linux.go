package router

import (
	"fmt"
	"os"
)

// CheckPrivileges returns an error naming the capabilities the daemon needs
// (CAP_NET_ADMIN, CAP_NET_RAW) that the process does not have in its
// effective set, or nil when it has both.
func CheckPrivileges() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("check privileges: %w", err)
	}
	eff, err := parseCapEff(string(b))
	if err != nil {
		return fmt.Errorf("check privileges: %w", err)
	}
	return missingCaps(eff)
}
