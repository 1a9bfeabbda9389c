// Package fastpathtest provides fakes for testing code that uses package
// fastpath: a Port on channels and a System with fixed tables.
package fastpathtest
