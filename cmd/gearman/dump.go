package main

import "github.com/seed749d6d6d/gearman"

// dumpData is how much of a packet's data -v -v -v shows.
const dumpData = 64

// dumpTrace returns the trace of -v -v: every packet sent ("-->") and
// received ("<--") on standard error, one line each with the server, the
// type, the handle, the other arguments and the sizes; with data, the
// first 64 bytes of each packet's data too (-v -v -v). Unexpected packets
// come as "!!!" lines with the reason.
func (e *env) dumpTrace(data bool) *gearman.PacketTrace {
	line := func(dir string, p gearman.PacketInfo) {
		if len(p.Data) > dumpData {
			p.Data = p.Data[:dumpData]
		}
		e.errorf("gearman: %s %s %s\n", dir, p.Addr, p)
	}
	return &gearman.PacketTrace{
		Sent:     func(p gearman.PacketInfo) { line("-->", p) },
		Received: func(p gearman.PacketInfo) { line("<--", p) },
		Unexpected: func(p gearman.PacketInfo, err error) {
			e.errorf("gearman: !!! %s %v: %v\n", p.Addr, p.Type, err)
		},
		Data: data,
	}
}
