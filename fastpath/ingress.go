package fastpath

import (
	"net/netip"

	"golang.org/x/net/bpf"
)

// tc actions a direct-action classifier returns (linux/pkt_cls.h).
const (
	tcActOK   = 0 // let the kernel have the packet
	tcActShot = 2 // drop it
)

// IngressProgram returns the classic BPF program that the engine attaches
// (cls_bpf, direct action) to the tc ingress of every fast-path interface,
// so that the kernel does not forward what the fast path forwards. It runs
// on the Ethernet frame (cls_bpf pushes the MAC header back at ingress) and
// returns TC_ACT_OK
// for every packet classify leaves to the kernel — not version 6, multicast
// or link-local destination, link-local source, a next header other than
// TCP/UDP/ICMPv6, a destination in locals, hop limit 0 or 1, shorter than
// 54 bytes (a load past the end ends a classic BPF program with 0) — and
// TC_ACT_SHOT for the rest. Every "pass" is a return in place, so no jump
// exceeds the 8-bit offsets of classic BPF however many locals there are.
func IngressProgram(locals []netip.Addr) []bpf.Instruction {
	pass := bpf.RetConstant{Val: tcActOK}
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offIP + 36, Size: 4}, // at least a full header, or return 0
		bpf.LoadAbsolute{Off: offIP + 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 24, Size: 1}, // ff00::/8
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xff, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 24, Size: 2}, // dst fe80::/10
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffc0},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xfe80, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 8, Size: 2}, // src fe80::/10
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffc0},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xfe80, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 6, Size: 1}, // next header
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipTrue: 3},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 1},
		pass,
	}
	for _, a := range locals {
		if !a.Is6() || a.Is4In6() {
			continue
		}
		b := a.As16()
		w := func(i int) uint32 {
			return uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
		}
		p = append(p,
			bpf.LoadAbsolute{Off: offIP + 24, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w(0), SkipTrue: 7},
			bpf.LoadAbsolute{Off: offIP + 28, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w(1), SkipTrue: 5},
			bpf.LoadAbsolute{Off: offIP + 32, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w(2), SkipTrue: 3},
			bpf.LoadAbsolute{Off: offIP + 36, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w(3), SkipTrue: 1},
			pass,
		)
	}
	return append(p,
		bpf.LoadAbsolute{Off: offIP + 7, Size: 1}, // hop limit
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 2, SkipTrue: 1},
		pass,
		bpf.RetConstant{Val: tcActShot},
	)
}
