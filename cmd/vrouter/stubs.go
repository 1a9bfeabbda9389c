package main

import (
	"fmt"
	"io"
)

func cmdRun(args []string, stdout, stderr io.Writer) int      { fmt.Fprintln(stderr, "todo"); return 1 }
func cmdCheck(args []string, stdout, stderr io.Writer) int    { fmt.Fprintln(stderr, "todo"); return 1 }
func cmdDefaults(args []string, stdout, stderr io.Writer) int { fmt.Fprintln(stderr, "todo"); return 1 }
func cmdStatus(args []string, stdout, stderr io.Writer) int   { fmt.Fprintln(stderr, "todo"); return 1 }
func cmdVersion(args []string, stdout, stderr io.Writer) int  { fmt.Fprintln(stderr, "todo"); return 1 }
