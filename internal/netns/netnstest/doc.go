// Package netnstest runs a test in a private network namespace: the test
// binary re-executes itself for just that test in a child created with
// CLONE_NEWNET, and the test body runs there.
//
// This is more robust than switching one locked thread of the test process:
// the code under test (netlink receive goroutines, sysctl writes) runs on
// whatever threads the scheduler picks, and /proc/sys/net resolves against
// the namespace of the thread that opens the file, so a namespace entered by
// one thread would let other threads touch the host; in the child every
// thread is in the new namespace. It runs the production path (the
// namespace of the process, as the daemon uses it), and the namespace is
// unnamed: the kernel destroys it, with every link in it, when the child
// exits, even when it crashes or is killed (Pdeathsig), so nothing can leak
// into `ip netns list` or the host.
package netnstest
