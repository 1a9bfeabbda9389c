package config

import (
	_ "embed"
	"os"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration, a commented
// template of the reference scenario.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// DefaultPath is where `vrouter run` looks for its config.
const DefaultPath = "/etc/vrouter/vrouter.yaml"

// Default returns the embedded default configuration, parsed.
func Default() *Config {
	c, err := Parse("<default>", defaultYAML)
	if err != nil {
		panic("config: embedded default is invalid: " + err.Error())
	}
	return c
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and validates data; name is used in error positions.
// On failure the error is an Errors listing every problem found.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data)
}
