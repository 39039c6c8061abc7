package gearman

import (
	"errors"
	"fmt"

	"github.com/seed749d6d6d/gearman/wire"
)

// PacketTrace is a set of hooks that see the packets of a connection
// ([Options.Trace]), for debugging and traffic dumps, as
// net/http/httptrace's hooks see a request. Any hook may be nil. A
// connection without a trace pays one nil check per packet.
//
// The hooks run synchronously on the connection's goroutines, Sent under
// the lock of its write queue: they must be quick, must not block, and
// must not call the connection. The [PacketInfo] they get, and the slices
// in it, are valid only during the call.
type PacketTrace struct {
	// Sent is called for each packet the connection sends, as it is
	// queued, in the order the packets go out.
	Sent func(PacketInfo)
	// Received is called for each packet read from the server, before the
	// connection handles it.
	Received func(PacketInfo)
	// Unexpected is called for a packet the connection did not expect,
	// with the reason. One of a type the protocol does not define is
	// skipped (its body unread) and the connection goes on; one that does
	// not fit the connection's state (a reply nobody awaits, a request
	// packet from a server) ends the connection, with err as the
	// connection's error. Either is also logged to [Options.Logger] at
	// level Warn, with or without a trace (after the first 8 unknown
	// packets of a connection, at level Debug).
	Unexpected func(info PacketInfo, err error)
	// Data asks for each packet's data argument in PacketInfo.Data, where
	// it is in memory whole.
	Data bool
}

// PacketInfo describes one packet for a [PacketTrace].
type PacketInfo struct {
	// Addr is the server's address.
	Addr string
	// Magic is wire.Req for a packet sent, wire.Res for one received
	// (a server that sends requests is unexpected).
	Magic wire.Magic
	// Type is the packet's type, possibly one the protocol does not
	// define (see Type.Valid).
	Type wire.Type
	// Args are the packet's arguments before its data argument: the job
	// handle, function name, unique id and so on, as the type defines
	// them (see [PacketInfo.Handle]).
	Args [][]byte
	// Size is the length of the packet's body in bytes, after its 12-byte
	// header.
	Size int64
	// DataLen is the length of its data argument (payload, result, echo
	// data), zero for a type without one.
	DataLen int64
	// Data is the data argument, with PacketTrace.Data, when it is in
	// memory whole: a received one that came in the read buffer (not
	// one larger, which streams), a sent one as it is queued (not a
	// payload streamed after its header).
	Data []byte
}

// Handle returns the packet's job handle (or stream id, for the streaming
// extension's packets), or nil for a type without one.
func (p PacketInfo) Handle() []byte {
	if p.Type.HasHandle() && len(p.Args) > 0 {
		return p.Args[0]
	}
	return nil
}

// String formats the packet for a traffic dump, such as
// "SUBMIT_JOB upper size=9 data=5" or
// "JOB_ASSIGN_UNIQ handle=H:x:1 upper size=20 data=5", with the data
// quoted when present.
func (p PacketInfo) String() string {
	b := []byte(p.Type.String())
	args := p.Args
	if h := p.Handle(); h != nil {
		b = fmt.Appendf(b, " handle=%s", h)
		args = args[1:]
	}
	for _, a := range args {
		b = fmt.Appendf(b, " %q", a)
	}
	b = fmt.Appendf(b, " size=%d", p.Size)
	if p.Type.HasData() {
		b = fmt.Appendf(b, " data=%d", p.DataLen)
		if p.Data != nil {
			b = fmt.Appendf(b, " %q", p.Data)
		}
	}
	return string(b)
}

// traceSent reports a packet queued by q. q.mu held.
func (q *outQueue) traceSent(t wire.Type, args [][]byte) {
	lead, data := args, []byte(nil)
	if t.HasData() && len(args) > 0 {
		lead, data = args[:len(args)-1], args[len(args)-1]
	}
	q.traceSentLead(t, lead, int64(len(data)), data)
}

// traceSentLead reports a packet queued by q whose data, dataLen bytes
// long, is data or (nil) not in memory. q.mu held.
//
// The hook gets copies, in memory of q's: were the arguments handed to it
// (a function the compiler cannot see), every caller's arguments would
// escape to the heap, traced or not.
func (q *outQueue) traceSentLead(t wire.Type, lead [][]byte, dataLen int64, data []byte) {
	b := q.traceBuf[:0]
	for _, a := range lead {
		b = append(b, a...)
	}
	if q.trace.Data && data != nil {
		b = append(b, data...)
	}
	q.traceBuf = b
	args := q.traceArgs[:len(lead)]
	off := 0
	for i, a := range lead {
		args[i] = b[off : off+len(a) : off+len(a)]
		off += len(a)
	}
	info := PacketInfo{Addr: q.traceAddr, Magic: wire.Req, Type: t, Args: args,
		Size: wire.BodyLen(t, lead, dataLen), DataLen: dataLen}
	if q.trace.Data && data != nil {
		info.Data = b[off:len(b):len(b)]
	}
	q.trace.Sent(info)
	clear(args)
	if cap(q.traceBuf) > 64<<10 {
		q.traceBuf = nil // a large payload's copy is not kept
	}
}

// received describes the packet just read (its data pending in c.r).
func (c *Conn) received(p wire.Packet) PacketInfo {
	info := PacketInfo{Addr: c.addr, Magic: p.Magic, Type: p.Type, Args: p.Args,
		DataLen: c.rd.r.DataLen()}
	if !p.Type.Valid() {
		info.Size, info.DataLen = c.rd.r.DataLen(), 0 // the body, unread
	} else {
		info.Size = wire.BodyLen(p.Type, p.Args, info.DataLen)
	}
	if tr := c.opts.Trace; tr != nil && tr.Data && p.Type.HasData() {
		info.Data, _ = c.rd.r.PeekData()
	}
	return info
}

// traceReceived reports a packet read. Read loop (whoever reads).
func (c *Conn) traceReceived(p wire.Packet) {
	c.opts.Trace.Received(c.received(p))
}

// unknownWarnings is how many unknown packets a connection logs at level
// Warn; the ones after go to level Debug, so that a server sending them
// without end does not flood the log. The trace sees them all.
const unknownWarnings = 8

// unknownPacket reports a packet of a type the protocol does not define,
// which the connection skips.
func (c *Conn) unknownPacket(p wire.Packet) {
	info := c.received(p)
	err := fmt.Errorf("gearman: %s sent a packet of unknown type %d (%d bytes), skipped", c.addr, uint32(p.Type), info.Size)
	c.rd.unknowns++
	switch n := c.rd.unknowns; {
	case n < unknownWarnings:
		c.opts.Logger.Warn("gearman: unknown packet", "server", c.addr, "type", uint32(p.Type), "size", info.Size)
	case n == unknownWarnings:
		c.opts.Logger.Warn("gearman: unknown packet; further ones on this connection are logged at level Debug", "server", c.addr, "type", uint32(p.Type), "size", info.Size)
	default:
		c.opts.Logger.Debug("gearman: unknown packet", "server", c.addr, "type", uint32(p.Type), "size", info.Size)
	}
	if tr := c.opts.Trace; tr != nil && tr.Unexpected != nil {
		tr.Unexpected(info, err)
	}
}

// unexpectedError is a packet that does not fit the connection's state; it
// ends the connection.
type unexpectedError struct {
	magic wire.Magic
	typ   wire.Type
	err   error
}

func (e *unexpectedError) Error() string { return e.err.Error() }
func (e *unexpectedError) Unwrap() error { return e.err }

// unexpectedf returns the error of an unexpected packet of type t.
func unexpectedf(t wire.Type, format string, args ...any) error {
	return &unexpectedError{magic: wire.Res, typ: t, err: fmt.Errorf(format, args...)}
}

// reportUnexpected logs, and traces, the unexpected packet that err
// describes, if it is one.
func (c *Conn) reportUnexpected(err error) {
	var ue *unexpectedError
	if !errors.As(err, &ue) {
		return
	}
	c.opts.Logger.Warn("gearman: unexpected packet; closing the connection", "server", c.addr, "magic", ue.magic, "type", ue.typ, "error", ue.err)
	if tr := c.opts.Trace; tr != nil && tr.Unexpected != nil {
		tr.Unexpected(PacketInfo{Addr: c.addr, Magic: ue.magic, Type: ue.typ}, err)
	}
}
