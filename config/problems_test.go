package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProblemPositions(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`interfaces:
  eth1:
    role: downstream
    advertise:
      prefixes:
        - prefix: 2001:db8:0:2::/64
fastpath:
  enabled: true
  interfaces: [eth1]
  cpus: [1, 2000]
`))
	if err != nil {
		t.Fatal(err)
	}
	es := c.Errors([]Problem{
		Problemf("fastpath.cpus[1]", "must be below %d", 1024),
		{Path: "interfaces.eth1.advertise.prefixes[0].prefix", Msg: "on the value"},
		{Path: "interfaces.eth1.advertise.prefixes[0].valid_lifetime", Msg: "not written: its parent"},
		{Path: "interfaces.eth1.advertise", Msg: "a section: its key"},
		{Path: "nowhere", Msg: "unknown: 1:1"},
	})
	want := []string{
		"f.yaml:1:1: nowhere: unknown: 1:1",
		"f.yaml:4:5: interfaces.eth1.advertise: a section: its key",
		// The path printed is the problem's own, the position its
		// closest written parent's.
		"f.yaml:6:11: interfaces.eth1.advertise.prefixes[0].valid_lifetime: not written: its parent",
		"f.yaml:6:19: interfaces.eth1.advertise.prefixes[0].prefix: on the value",
		"f.yaml:10:13: fastpath.cpus[1]: must be below 1024",
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if c.Errors(nil) != nil {
		t.Error("Errors(nil) != nil")
	}
}

func TestUnder(t *testing.T) {
	got := Under("interfaces.eth1.advertise", []Problem{{Path: "prefixes[0]"}, {Path: ""}})
	got = append(got, Under("ndproxy", []Problem{{Path: "[2].prefix"}})...)
	want := []Problem{{Path: "interfaces.eth1.advertise.prefixes[0]"}, {Path: "interfaces.eth1.advertise"}, {Path: "ndproxy[2].prefix"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Under (-want +got):\n%s", diff)
	}
}
