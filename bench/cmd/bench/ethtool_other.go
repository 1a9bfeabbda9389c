//go:build !linux

package main

import "errors"

func setTSO(string, bool) error { return errors.New("setting TSO needs Linux") }
