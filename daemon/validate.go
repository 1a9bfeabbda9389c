package daemon

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/router"
)

// validators are the rules of every component of `vrouter run`, each
// returning problems with paths from the config root. `vrouter check`,
// `vrouter run` and SIGHUP all run every one of them (Validate), so a
// config that check accepts is one every component accepts.
var validators = []struct {
	name     string
	validate func(*config.Config) []config.Problem
}{
	{"router", router.Validate},
	{"ra", validateRA},
	{"ndproxy", func(c *config.Config) []config.Problem { return config.Under("ndproxy", ndproxy.Validate(c.NDProxy)) }},
	{"fastpath", func(c *config.Config) []config.Problem {
		return config.Under("fastpath", fastpath.Validate(c.Fastpath))
	}},
}

func validateRA(c *config.Config) []config.Problem {
	var ps []config.Problem
	for _, ifc := range c.Interfaces {
		if ifc.Advertise != nil {
			ps = append(ps, config.Under("interfaces."+ifc.Name+".advertise", ra.Problems(*ifc.Advertise))...)
		}
	}
	return ps
}

// Validate runs every component's rules on cfg, which config.Parse
// accepted, and returns every problem as config.Errors positioned in the
// file cfg was read from, or nil.
func Validate(cfg *config.Config) error {
	var ps []config.Problem
	for _, v := range validators {
		ps = append(ps, v.validate(cfg)...)
	}
	if es := cfg.Errors(ps); es != nil {
		return es
	}
	return nil
}

// LoadConfig reads the config the way `vrouter run` does — path when
// given, else config.DefaultPath when it exists, else the embedded default
// — and validates it completely (Validate). On a bad config the error is
// config.Errors listing every problem with its position.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func readConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	c, err := config.Load(config.DefaultPath)
	if errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.DefaultPath, err)
	}
	return c, nil
}
