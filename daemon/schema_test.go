package daemon

import (
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// schema returns the JSON paths of t with their JSON types: "x.y" for a
// field, "x[]" for the items of a list, "x.*" for the values of a map
// (whose keys are data: names, reasons).
func schema(t reflect.Type, path string, out map[string]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[netip.Addr](), reflect.TypeFor[netip.Prefix]():
		out[path] = "string"
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if path != "" {
			out[path] = "object"
		}
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			schema(f.Type, p, out)
		}
	case reflect.Slice:
		out[path] = "array"
		schema(t.Elem(), path+"[]", out)
	case reflect.Map:
		out[path] = "object"
		schema(t.Elem(), path+".*", out)
	case reflect.String:
		out[path] = "string"
	case reflect.Bool:
		out[path] = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		out[path] = "number"
	default:
		out[path] = t.Kind().String()
	}
}

var snakePath = regexp.MustCompile(`^[a-z][a-z0-9_]*(\[\])?((\.[a-z][a-z0-9_]*|\.\*)(\[\])?)*$`)

// TestStatusSchemaDocumented: `vrouter status --json` has one schema,
// documented in the README, in snake_case throughout.
func TestStatusSchemaDocumented(t *testing.T) {
	got := map[string]string{}
	schema(reflect.TypeFor[Status](), "", got)
	for p := range got {
		if !snakePath.MatchString(p) {
			t.Errorf("status key %q is not snake_case", p)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(readme), "<!-- status-schema -->")
	table, _, ok2 := strings.Cut(rest, "<!-- /status-schema -->")
	if !ok1 || !ok2 {
		t.Fatal("README.md has no <!-- status-schema --> ... <!-- /status-schema --> section")
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| ([a-z]+) \\|")
	documented := map[string]string{}
	for _, l := range strings.Split(table, "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			documented[m[1]] = m[2]
		}
	}
	if diff := cmp.Diff(documented, got); diff != "" {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		})
		var b strings.Builder
		for _, k := range keys {
			b.WriteString("| `" + k + "` | " + got[k] + " |  |\n")
		}
		t.Errorf("README status schema (-documented +actual):\n%s\nrows of the actual schema:\n%s", diff, b.String())
	}
}

// TestReasonsSnakeCase: drop and kernel reasons, kinds and fields are
// typed enums spelled in snake_case in every package (they are metric
// labels and status keys).
func TestReasonsSnakeCase(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for pkg, names := range enumNames() {
		if len(names) == 0 {
			t.Errorf("%s: no names", pkg)
		}
		for _, n := range names {
			if !name.MatchString(n) {
				t.Errorf("%s: %q is not snake_case", pkg, n)
			}
		}
	}
}
