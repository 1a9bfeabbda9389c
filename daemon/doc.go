// Package daemon provides `vrouter run`: it wires the netlink reconciler
// (router), one Router Advertisement advertiser per advertising interface
// (ra) and the status socket under one context, reloads the config on
// SIGHUP without disturbing clients, and on shutdown lets every advertiser
// send its final RA (router lifetime 0) before returning.
//
// It also speaks the systemd notify protocol (sd_notify READY=1,
// RELOADING=1, STOPPING=1, STATUS=...) when NOTIFY_SOCKET is set.
package daemon
