package main

import (
	"fmt"
	"io"
)

// cmdCloudinit is owned by the cloudinit/ work (issue 6).
func cmdCloudinit(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vrouter cloudinit: not implemented yet")
	return exitFailure
}
