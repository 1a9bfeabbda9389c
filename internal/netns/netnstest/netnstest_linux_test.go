package netnstest

import (
	"os"
	"testing"
)

func TestRun(t *testing.T) {
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	Run(t, func(t *testing.T) {
		ran = true
		if os.Getenv(parentEnv) == host {
			t.Errorf("body runs in the parent's namespace %s", host)
		}
	})
	if os.Getenv(childEnv) == t.Name() && !ran {
		t.Error("the child did not run the body")
	}
}

func TestRunPattern(t *testing.T) {
	if got, want := runPattern("TestA/b.c"), `^TestA$/^b\.c$`; got != want {
		t.Errorf("runPattern = %q, want %q", got, want)
	}
}

func TestRandName(t *testing.T) {
	a, b := RandName(t, "vrt", "a"), RandName(t, "vrt", "a")
	if len(a) != 10 || a == b {
		t.Errorf("RandName: %q, %q", a, b)
	}
}
