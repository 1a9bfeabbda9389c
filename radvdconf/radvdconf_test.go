package radvdconf

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden converts every testdata/*.conf (the examples of radvd.conf(5)
// and radvd's radvd.conf.example among them) and compares the YAML, or the
// errors, with NAME.yaml or NAME.err.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			out, err := Convert(name, src)
			golden := strings.TrimSuffix(f, ".conf") + ".yaml"
			got := out
			if err != nil {
				golden = strings.TrimSuffix(f, ".conf") + ".err"
				got = []byte(err.Error() + "\n")
				var es Errors
				if !errors.As(err, &es) {
					t.Fatalf("error is %T, want Errors", err)
				}
			} else if _, perr := config.Parse(name, out); perr != nil {
				t.Fatalf("output does not parse as a vrouter config: %v\n%s", perr, out)
			}
			if *update {
				for _, ext := range []string{".yaml", ".err"} {
					os.Remove(strings.TrimSuffix(f, ".conf") + ext)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (got:\n%s)", rerr, got)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestConvertValues(t *testing.T) {
	src, err := os.ReadFile("testdata/full.conf")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Convert("full.conf", src)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("out.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Interface("eth1").Advertise
	switch {
	case a.MinInterval.Seconds() != 30 || a.MaxInterval.Seconds() != 100 || a.RouterLifetime.Seconds() != 300:
		t.Errorf("intervals/lifetime %s %s %s", a.MinInterval, a.MaxInterval, a.RouterLifetime)
	case !a.Managed || !a.OtherConfig || a.HopLimit != 32 || a.LinkMTU != 1400 || a.Preference != config.PreferenceHigh:
		t.Errorf("flags %+v", a)
	case a.ReachableTime.Milliseconds() != 30000 || a.RetransTimer.Milliseconds() != 1500:
		t.Errorf("timers %s %s", a.ReachableTime, a.RetransTimer)
	case !a.Prefixes[0].Auto() || a.Prefixes[0].ValidLifetime != config.Infinity:
		t.Errorf("auto prefix %+v", a.Prefixes[0])
	case a.Prefixes[1].OnLink || !a.Prefixes[1].DecrementLifetimes:
		t.Errorf("prefix %+v", a.Prefixes[1])
	case a.Routes[0].Lifetime.Seconds() != 300 || a.Routes[1].Lifetime != config.Infinity:
		t.Errorf("route lifetimes: default 3*max = 300s and infinity, got %s %s", a.Routes[0].Lifetime, a.Routes[1].Lifetime)
	case a.DNSSL[0].Domains[0] != "example.org":
		t.Errorf("domains %v", a.DNSSL[0].Domains)
	case a.PREF64[0].Lifetime.Seconds() != 300 || a.PREF64[1].Lifetime.Seconds() != 608:
		t.Errorf("pref64 lifetimes: 3*max and 601 rounded up to 608, got %s %s", a.PREF64[0].Lifetime, a.PREF64[1].Lifetime)
	case a.CaptivePortal != "https://portal.example.net/api/capport.json":
		t.Errorf("captive portal %q", a.CaptivePortal)
	}
	if c.Interface("eth2").Advertise != nil {
		t.Error("eth2 has AdvSendAdvert off but advertises")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unterminated", "interface eth0 {\n AdvSendAdvert on;\n", "f.conf:3:1: section interface opened at 1:1 is not closed"},
		{"missing semicolon", "interface eth0 {\n AdvSendAdvert on\n};", `f.conf:3:1: expected ';' or '{' after AdvSendAdvert, got "}"`},
		{"no semicolon after block", "interface eth0 { }\n", "f.conf:2:1: expected ';' after the '}' of interface"},
		{"string", "interface eth0 { AdvCaptivePortalAPI \"https://x\n\"; };", "f.conf:1:38: unterminated string"},
		{"bad value", "interface eth0 { AdvSendAdvert maybe; };", `f.conf:1:32: AdvSendAdvert: expected on or off, got "maybe"`},
		{"unknown", "interface eth0 { AdvSendAdvert on; AdvFoo 1; };", "f.conf:1:36: unknown option AdvFoo"},
		{"fraction", "interface eth0 { MaxRtrAdvInterval 0.5; };", "f.conf:1:18: MaxRtrAdvInterval cannot be carried over: vrouter takes whole seconds (fractions are for Mobile IPv6), got 0.5"},
		{"range", "interface eth0 { MaxRtrAdvInterval 4000; };", "f.conf:1:18: MaxRtrAdvInterval: vrouter allows 4 to 1800 seconds (RFC 4861 §6.2.1), got 4000s"},
		{"min", "interface eth0 { MaxRtrAdvInterval 10; MinRtrAdvInterval 9; };", "f.conf:1:40: MinRtrAdvInterval: must be from 3 seconds to 0.75 * MaxRtrAdvInterval (7.5s), got 9s"},
		{"lifetime", "interface eth0 { AdvDefaultLifetime 10000; };", "f.conf:1:18: AdvDefaultLifetime: vrouter allows 0 or MaxRtrAdvInterval (600s) to 9000 seconds (RFC 4861 §6.2.1), got 10000s"},
		{"preferred", "interface eth0 { prefix 2001:db8::/64 { AdvValidLifetime 60; }; };", "f.conf:1:41: prefix 2001:db8::/64: AdvPreferredLifetime (14400s) exceeds AdvValidLifetime (60s)"},
		{"http portal", "interface eth0 { AdvCaptivePortalAPI \"http://x\"; };", `f.conf:1:38: AdvCaptivePortalAPI: vrouter takes an https:// URI or urn:ietf:params:capport:unrestricted (RFC 8910), got "http://x"`},
		{"not interface", "prefix 2001:db8::/64 { };", "f.conf:1:1: prefix: expected an interface section"},
		{"duplicate", "interface eth0 { };\ninterface eth0 { };", "f.conf:2:11: interface eth0: already defined at 1:11"},
		{"empty", "# nothing\n", "f.conf:1:1: no interface sections"},
		{"nat64 length", "interface eth0 { nat64prefix 64:ff9b::/80 { }; };", "f.conf:1:30: nat64prefix 64:ff9b::/80: length must be 32, 40, 48, 56, 64 or 96"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert("f.conf", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Convert error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.conf")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("interface a { prefix ::/64 { }; RDNSS ::1 { }; };"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := Convert("fuzz.conf", src)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %v", err)
			}
			for _, e := range es {
				if e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without position: %v", e)
				}
			}
			return
		}
		if _, err := config.Parse("out.yaml", out); err != nil {
			t.Fatalf("converted config does not parse: %v\n%s", err, out)
		}
	})
}
