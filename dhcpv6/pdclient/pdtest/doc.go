// Package pdtest has test doubles for package pdclient: Conn, an in-memory
// client socket, and Server, a delegating router that answers a client's
// messages the way RFC 8415 servers do, for tests that want a delegation
// without a real DHCPv6 server.
package pdtest
