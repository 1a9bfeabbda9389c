package cloudinit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// WithHAPriority returns the vrouter config data with ha.priority set to
// prio, everything else byte for byte (comments, order): the second
// router of an HA pair is the same config with a lower priority. The
// config must have an ha section with a plain priority value.
func WithHAPriority(data []byte, prio uint8) ([]byte, error) {
	if prio == 0 {
		return nil, errors.New("ha priority 0 is reserved for a stopping router (1..255)")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("ha priority: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("ha priority: the config has no ha section")
	}
	ha := mapValue(doc.Content[0], "ha")
	if ha == nil || ha.Kind != yaml.MappingNode {
		return nil, errors.New("ha priority: the config has no ha section")
	}
	p := mapValue(ha, "priority")
	if p == nil {
		return nil, fmt.Errorf("ha priority: the ha section (line %d) has no priority to change", ha.Line)
	}
	if p.Kind != yaml.ScalarNode || p.Style != 0 {
		return nil, fmt.Errorf("ha priority: line %d: write the priority as a plain number", p.Line)
	}
	// The scalar's bytes: line p.Line, from column p.Column, len(p.Value).
	lines := bytes.SplitAfter(data, []byte("\n"))
	if p.Line < 1 || p.Line > len(lines) {
		return nil, fmt.Errorf("ha priority: line %d out of range", p.Line)
	}
	l := lines[p.Line-1]
	start := p.Column - 1
	end := start + len(p.Value)
	if start < 0 || end > len(l) || string(l[start:end]) != p.Value {
		return nil, fmt.Errorf("ha priority: line %d: cannot find %q", p.Line, p.Value)
	}
	nl := append(append(append([]byte{}, l[:start]...), strconv.Itoa(int(prio))...), l[end:]...)
	lines[p.Line-1] = nl
	return bytes.Join(lines, nil), nil
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
