package ifname

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"eth0", true},
		{"eth0.100", true},
		{"br-lan_1@x", true},
		{"a", true},
		{strings.Repeat("x", 15), true},
		{strings.Repeat("x", 16), false},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"eth/0", false},
		{"eth:0", false},
		{"eth 0", false},
		{"eth\t0", false},
		{"eth\x000", false},
		{"eth\x7f", false},
		{"éth0", false},
	} {
		err := Check(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "interface name") {
			t.Errorf("Check(%q) error %q does not say what it checked", tc.name, err)
		}
		if Valid(tc.name) != tc.ok {
			t.Errorf("Valid(%q) != %v", tc.name, tc.ok)
		}
	}
}

// FuzzCheck holds the rule to what sysctl paths and the kernel need: a
// valid name never escapes a directory and fits IFNAMSIZ.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"eth0", "..", "a/b", "x:y", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !Valid(s) {
			return
		}
		if len(s) == 0 || len(s) > MaxLen || s == "." || s == ".." || strings.ContainsAny(s, "/:\x00 \t\n") {
			t.Fatalf("accepted %q", s)
		}
	})
}
