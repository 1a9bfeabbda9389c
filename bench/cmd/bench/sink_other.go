//go:build !linux

package main

import "errors"

var errNotLinux = errors.New("bench runs on Linux only")

type sink struct{}

func attachSink(string, string) (*sink, error) { return nil, errNotLinux }
func (*sink) count() uint64                    { return 0 }
func (*sink) Close()                           {}
func pinNAPI(string, int) error                { return errNotLinux }
