package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExpediteRCURestores(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rcu_expedited")
	if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	restore, err := expediteRCU(p)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "1" {
		t.Fatalf("during: %q, want 1", b)
	}
	restore()
	if b, _ := os.ReadFile(p); string(b) != "0" {
		t.Fatalf("after: %q, want the previous 0", b)
	}
	if _, err := expediteRCU(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing switch gave no error")
	}
}
