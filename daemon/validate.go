package daemon

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/vrouter/vrouter/config"
)

// Validate runs every component's rules on cfg, which config.Parse
// accepted, and returns every problem as config.Errors positioned in the
// file cfg was read from, or nil.
func Validate(cfg *config.Config) error { return validate(cfg, DefaultSpecs()) }

// validate runs the rules of specs on cfg.
func validate(cfg *config.Config, specs []Spec) error {
	var ps []config.Problem
	for _, s := range specs {
		if s.Validate != nil {
			ps = append(ps, s.Validate(cfg)...)
		}
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
func LoadConfig(path string) (*config.Config, error) { return loadConfig(path, DefaultSpecs()) }

// CheckConfig parses and validates a config given as bytes, as LoadConfig
// does a file; name is used in error positions.
func CheckConfig(name string, data []byte) (*config.Config, error) {
	cfg, err := config.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := validate(cfg, DefaultSpecs()); err != nil {
		return nil, err
	}
	return cfg, nil
}

func loadConfig(path string, specs []Spec) (*config.Config, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := validate(cfg, specs); err != nil {
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
