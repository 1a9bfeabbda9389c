// Package netns provides the one way vrouter's tests and benchmarks run code
// inside another network namespace: on a fresh OS thread switched there with
// setns(2) and thrown away afterwards, so no other goroutine ever runs in
// that namespace by accident and the caller's thread never changes. Sockets
// opened there stay in that namespace. Package netnstest runs a whole test in
// a private namespace instead.
package netns
