// Package ratest provides in-memory fakes of the ra package's operating
// system boundary: a channel-based NDP Conn and a System holding link states.
// They block only on channels and timers, so tests can drive them inside a
// testing/synctest bubble.
package ratest
