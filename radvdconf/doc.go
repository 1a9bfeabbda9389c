// Package radvdconf provides a parser for radvd.conf(5) files and their
// conversion into the advertise sections of a vrouter config, for
// `vrouter import-radvd`. Everything radvd would advertise is carried over
// explicitly (radvd's defaults written out); an option vrouter cannot
// reproduce is an error naming the option and its position, never silently
// dropped.
package radvdconf
