// Package netwatch provides the one watcher of kernel network state that
// every component of `vrouter run` uses: one rtnetlink subscription (links,
// IPv6 addresses, neighbours, routes and per-interface IPv6 settings such as
// forwarding), fanned out to any number of subscribers. Nothing polls.
//
// A [Subscription] holds a bounded queue of [Event]s and a coalescing wake-up
// channel: the watcher never blocks on a slow subscriber. A subscriber that
// only needs "something changed" asks for no queue and re-reads what it
// needs on each wake-up; one that mirrors kernel state (the fast path's FIB)
// asks for a queue and reads the events in order.
//
// When events may have been lost — the kernel dropped notifications because
// the socket's receive buffer overran (ENOBUFS), the socket failed, or a
// subscriber's queue overflowed — the subscriber receives an event of kind
// [KindResync] and must re-read the state it keeps. After a subscription
// error the watcher resubscribes with back-off (100ms doubling to 10s) and
// then sends KindResync to every subscriber.
//
// The kernel is reached through a [Source]; [Netlink] is the real one and
// package netwatchtest has a fake that tests drive.
package netwatch
