package router

import (
	"strings"
	"testing"
)

func TestCaps(t *testing.T) {
	const status = "Name:\tvrouter\nUmask:\t0022\nState:\tS (sleeping)\nCapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t000001ffffffffff\n"
	tests := []struct {
		eff     string
		missing []string // substrings of the error; nil = no error
		absent  []string // substrings the error must not have
	}{
		{eff: "000001ffffffffff"},
		{eff: "0000000000003000"}, // exactly NET_ADMIN and NET_RAW
		{eff: "0000000000000000", missing: []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}},
		{eff: "0000000000001000", missing: []string{"CAP_NET_RAW"}, absent: []string{"CAP_NET_ADMIN"}},
		{eff: "0000000000002000", missing: []string{"CAP_NET_ADMIN"}, absent: []string{"CAP_NET_RAW"}},
	}
	for _, tt := range tests {
		eff, err := parseCapEff(strings.ReplaceAll(status, "%s", tt.eff))
		if err != nil {
			t.Fatalf("parseCapEff(%s): %v", tt.eff, err)
		}
		err = missingCaps(eff)
		if tt.missing == nil {
			if err != nil {
				t.Errorf("CapEff %s: %v, want nil", tt.eff, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CapEff %s: nil error, want missing %v", tt.eff, tt.missing)
			continue
		}
		for _, m := range tt.missing {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("CapEff %s: %q does not name %s", tt.eff, err, m)
			}
		}
		for _, a := range tt.absent {
			if strings.Contains(err.Error(), a) {
				t.Errorf("CapEff %s: %q names %s, which is present", tt.eff, err, a)
			}
		}
	}
	for _, bad := range []string{"", "CapEff:\tzz\n", "CapEff:\t1ffffffffffffffffff\n", "CapPrm:\t0\n"} {
		if _, err := parseCapEff(bad); err == nil {
			t.Errorf("parseCapEff(%q) succeeded", bad)
		}
	}
}

func FuzzParseCapEff(f *testing.F) {
	f.Add("CapEff:\t000001ffffffffff\n")
	f.Add("CapInh:\t0\nCapEff:\t0000000000003000\n")
	f.Add("CapEff:")
	f.Fuzz(func(t *testing.T, s string) {
		eff, err := parseCapEff(s)
		if err != nil {
			return
		}
		// Whatever parsed must be judged without panicking, and
		// consistently with the bits.
		if (missingCaps(eff) == nil) != (eff&(1<<capNetAdmin) != 0 && eff&(1<<capNetRaw) != 0) {
			t.Errorf("missingCaps(%#x) inconsistent", eff)
		}
	})
}

func TestSysctlPath(t *testing.T) {
	tests := []struct{ key, want string }{
		{"net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"},
		{confKey("eth0.100", "accept_ra"), "/proc/sys/net/ipv6/conf/eth0.100/accept_ra"},
		{"net.ipv6.conf.../accept_ra", ""},
		{"net.ipv6.conf./.x", ""},
		{"net..x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := sysctlPath(tt.key)
		if tt.want == "" {
			if err == nil {
				t.Errorf("sysctlPath(%q) = %q, want error", tt.key, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
	}
}

func FuzzSysctlPath(f *testing.F) {
	f.Add("net.ipv6.conf.eth0/100.accept_ra")
	f.Add("net.ipv6.conf.../x")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := sysctlPath(key)
		if err != nil {
			return
		}
		rest, ok := strings.CutPrefix(p, "/proc/sys/")
		if !ok {
			t.Fatalf("sysctlPath(%q) = %q outside /proc/sys", key, p)
		}
		for _, c := range strings.Split(rest, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("sysctlPath(%q) = %q has component %q", key, p, c)
			}
		}
	})
}
