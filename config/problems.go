package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxRouterLifetime is the longest router lifetime a config may ask for
// (AdvDefaultLifetime, RFC 4861 §6.2.1); the wire field would take 65535s.
const MaxRouterLifetime = 9000 * time.Second

// A Problem is a rule of some component that a config breaks, found after
// decoding by a validator that cannot see the YAML. Path names the field
// the way Error.Path does ("interfaces.eth1.advertise.prefixes[0]",
// "fastpath.cpus[2]"); Config.Errors turns problems into positioned
// Errors.
type Problem struct {
	Path string
	Msg  string
}

// Problemf returns a Problem at path with a formatted message.
func Problemf(path, format string, args ...any) Problem {
	return Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Under returns ps with prefix put before each path (joined with a dot, or
// directly before an index): validators of one section write paths
// relative to it and the caller places them.
func Under(prefix string, ps []Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = p
		switch {
		case p.Path == "":
			out[i].Path = prefix
		case prefix == "" || strings.HasPrefix(p.Path, "["):
			out[i].Path = prefix + p.Path
		default:
			out[i].Path = prefix + "." + p.Path
		}
	}
	return out
}

type position struct{ line, col int }

// positions maps a field path to where it was written: the value for a
// scalar, the key for a mapping or a list, the item for a list item.
type positions map[string]position

// Positions says where each field of a parsed config was written, so that
// problems found after decoding are reported at their line and column.
type Positions struct{ m positions }

// Equal reports true: where fields were written is not part of what a
// config means, so two configs that say the same compare equal (go-cmp
// uses this method).
func (Positions) Equal(Positions) bool { return true }

// at records the position of path: val when it is a scalar, else key.
func (d *decoder) at(path string, key, val *yaml.Node) {
	if d.pos == nil {
		d.pos = make(positions)
	}
	n := key
	if val != nil && val.Kind == yaml.ScalarNode {
		n = val
	}
	d.pos[path] = position{n.Line, n.Column}
}

// Pos returns where path, or failing that its closest parent, was written in
// the config file; 1:1 when neither was (a default, or the embedded config
// built without positions).
func (c *Config) Pos(path string) (line, col int) {
	for p := path; p != ""; p = parentPath(p) {
		if at, ok := c.Positions.m[p]; ok {
			return at.line, at.col
		}
	}
	return 1, 1
}

// parentPath strips the last ".field" or "[index]" of a path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// Errors returns ps as Errors at their positions in the file c was read
// from, in file order; nil when ps is empty.
func (c *Config) Errors(ps []Problem) Errors {
	if len(ps) == 0 {
		return nil
	}
	es := make(Errors, 0, len(ps))
	for _, p := range ps {
		line, col := c.Pos(p.Path)
		es = append(es, &Error{File: c.Source, Line: line, Col: col, Path: p.Path, Msg: p.Msg})
	}
	es.sort()
	return es
}
