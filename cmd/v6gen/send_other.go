//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

var errNotLinux = errors.New("v6gen sends on Linux only")

func sendRing(context.Context, sendSpec, float64, time.Duration) (result, error) {
	return result{}, errNotLinux
}

func sendLive(context.Context, sendSpec, float64, time.Duration) (result, error) {
	return result{}, errNotLinux
}
