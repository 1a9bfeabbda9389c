//go:build !linux

// Command vrdemo runs the reference scenario in Linux network namespaces;
// elsewhere it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "vrdemo: needs Linux (network namespaces)")
	os.Exit(2)
}
