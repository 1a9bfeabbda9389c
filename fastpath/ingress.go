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
//
// Each load from the packet is a helper call that copies the bytes when
// they are not in the skb's linear part (frames from an AF_PACKET TX ring
// are not), so the program loads as little as it can: the version byte,
// next header and hop limit as one half-word, the source's first half-word,
// and the destination's words once into scratch memory, which the checks
// against locals read: 5 loads, 7 with locals, however many locals (and
// the length, which is no packet load).
//
// A frame longer than maxLen (Ethernet header plus the interface's MTU) is
// also left to the kernel: only GRO or a TSO sender (a veth peer) makes
// such skbs, and the kernel forwards them segmented where the fast path
// could only answer Packet Too Big.
func IngressProgram(locals []netip.Addr, maxLen int) []bpf.Instruction {
	pass := bpf.RetConstant{Val: tcActOK}
	p := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: uint32(maxLen), SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 36, Size: 4}, // dst word 3; at least a full header, or return 0
		bpf.StoreScratch{Src: bpf.RegA, N: 3},
		bpf.LoadAbsolute{Off: offIP + 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 24, Size: 4}, // dst word 0
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 0xff00, SkipTrue: 1}, // ff00::/8
		pass,
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffc0}, // dst fe80::/10
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xfe80, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 8, Size: 2}, // src fe80::/10
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffc0},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xfe80, SkipTrue: 1},
		pass,
		bpf.LoadAbsolute{Off: offIP + 6, Size: 2}, // next header, hop limit
		bpf.TAX{},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 8},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipTrue: 3},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 1},
		pass,
		bpf.TXA{},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xff},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 2, SkipTrue: 1},
		pass,
	}
	var words [][4]uint32
	for _, a := range locals {
		if !a.Is6() || a.Is4In6() {
			continue
		}
		b := a.As16()
		var w [4]uint32
		for i := range w {
			w[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
		}
		words = append(words, w)
	}
	if len(words) > 0 {
		p = append(p,
			bpf.LoadAbsolute{Off: offIP + 28, Size: 4},
			bpf.StoreScratch{Src: bpf.RegA, N: 1},
			bpf.LoadAbsolute{Off: offIP + 32, Size: 4},
			bpf.StoreScratch{Src: bpf.RegA, N: 2},
		)
	}
	for _, w := range words {
		p = append(p,
			bpf.LoadScratch{Dst: bpf.RegA, N: 0},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w[0], SkipTrue: 7},
			bpf.LoadScratch{Dst: bpf.RegA, N: 1},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w[1], SkipTrue: 5},
			bpf.LoadScratch{Dst: bpf.RegA, N: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w[2], SkipTrue: 3},
			bpf.LoadScratch{Dst: bpf.RegA, N: 3},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w[3], SkipTrue: 1},
			pass,
		)
	}
	return append(p, bpf.RetConstant{Val: tcActShot})
}
