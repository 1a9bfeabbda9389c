package ifname

import "fmt"

// MaxLen is the longest interface name Linux takes (IFNAMSIZ - 1).
const MaxLen = 15

// Check returns nil when name is a valid interface name, else an error
// that says why, quoting the name.
func Check(name string) error {
	if name == "" || len(name) > MaxLen {
		return fmt.Errorf("interface name %q must have 1 to %d characters", name, MaxLen)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == '/' || c == ':' {
			return fmt.Errorf("interface name %q has %q, not allowed in interface names (printable ASCII without '/', ':' or spaces)", name, rune(c))
		}
	}
	return nil
}

// Valid reports whether name is a valid interface name (see Check).
func Valid(name string) bool { return Check(name) == nil }
