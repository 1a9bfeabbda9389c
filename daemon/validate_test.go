package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ndproxy/ndproxytest"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/router"
	"github.com/vrouter/vrouter/router/routertest"
)

// configCorpus returns the seed corpus of config.FuzzParse.
func configCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../config/testdata/fuzz/FuzzParse/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no config fuzz corpus: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		if !ok || !strings.HasSuffix(lit, ")") {
			t.Fatalf("%s: not a []byte fuzz corpus entry", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = []byte(s)
	}
	return out
}

// componentsAccept starts nothing but asks every component's constructor
// (and the reconciler's first pass, on a fake OS that has every link)
// whether it takes cfg, as `vrouter run` would.
func componentsAccept(t *testing.T, cfg *config.Config) error {
	osys := routertest.New(t)
	for i, ifc := range cfg.Interfaces {
		osys.AddLink(ifc.Name, net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)})
	}
	var errs []error
	if err := router.New(osys, slog.New(slog.DiscardHandler)).Apply(context.Background(), cfg); err != nil {
		errs = append(errs, err)
	}
	for _, ifc := range cfg.Interfaces {
		if ifc.Advertise != nil {
			if err := ra.Validate(*ifc.Advertise); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ifc := range cfg.Interfaces {
		if ifc.DHCPv6 != nil {
			c := *ifc.DHCPv6
			if ifc.Delegated != nil {
				c = withPrefix(c, netip.MustParsePrefix("2001:db8:77:2::/64"))
			}
			if _, err := dhcpv6.NewServer(ifc.Name, c, dhcpv6.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := ndproxy.New(cfg.NDProxy, nil, ndproxy.WithSystem(ndproxytest.New())); err != nil {
		errs = append(errs, err)
	}
	if cfg.Fastpath.Enabled {
		if _, err := fastpath.New(cfg.Fastpath, nil, fastpath.WithSystem(&fastpathtest.System{})); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FuzzCheckedConfigStarts is the property of the one validation path: a
// config that `vrouter check` accepts (config.Parse, then Validate) is
// accepted by every component. Its seeds are the config fuzz corpus.
func FuzzCheckedConfigStarts(f *testing.F) {
	for _, b := range configCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if err := Validate(cfg); err != nil {
			var es config.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Validate error is not config.Errors: %v", err)
			}
			for _, e := range es {
				if e.Line < 1 || e.Col < 1 || e.Path == "" && e.Msg == "" {
					t.Fatalf("problem without position or text: %+v", e)
				}
			}
			return
		}
		if err := componentsAccept(t, cfg); err != nil {
			t.Fatalf("check accepted a config a component refuses: %v\n%s", err, data)
		}
	})
}

// TestCheckClosesHoles pins the configs config.Parse accepts that a
// component refused at run time before the one validation path (the
// supervisor then retried them forever), and checks where they are
// reported.
func TestCheckClosesHoles(t *testing.T) {
	corpus := configCorpus(t)
	for name, want := range map[string]string{
		"fastpath-cpu-2000":      "fuzz.yaml:1:60: fastpath.cpus[0]: bad CPU number 2000 (0 to 1023)",
		"fastpath-no-interfaces": "fuzz.yaml:1:1: fastpath.interfaces: no interfaces configured",
		"fastpath-twice":         "fuzz.yaml:1:46: fastpath.interfaces[1]: interface \"eth0\" listed twice",
		"ndproxy-twice":          "fuzz.yaml:3:5: ndproxy[1]: 2001:db8::/64 from eth0 to eth1 is listed twice",
	} {
		cfg, err := config.Parse("fuzz.yaml", corpus[name])
		if err != nil {
			t.Fatalf("%s: config.Parse: %v", name, err)
		}
		if err := componentsAccept(t, cfg); err == nil {
			t.Errorf("%s: every component accepts it; the seed no longer shows a hole", name)
		}
		err = Validate(cfg)
		if err == nil || err.Error() != want {
			t.Errorf("%s: Validate = %v, want %q", name, err, want)
		}
	}
	for _, name := range []string{"default", "full-advertise", "router-lifetime-max", "dhcpv6-stateful", "dhcpv6-stateless", "prefix-delegation", "ha-pair", "fastpath-io-xdp"} {
		cfg, err := config.Parse("fuzz.yaml", corpus[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := Validate(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
