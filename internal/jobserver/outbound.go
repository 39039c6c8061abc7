package jobserver

import (
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// A connection's unsent output is bounded by Config.MaxOutbound, counted
// before anything is queued: what waits in out and vec and what the writer
// has taken but not finished writing (inflight). The bound is on memory as
// well as on bytes: a large data argument is queued by reference (the
// job's payload, or a result read into memory of its own), and out, the
// one buffer packets are copied into, is moved to vec whenever it holds
// outChunk and more comes, so no contiguous buffer grows with the backlog
// and no copy made under Server.mu is larger than the packet copied.

// outChunk is the size at which out moves to vec.
const outChunk = 1 << 20

// packetLen returns the encoded size of a binary packet with args.
func packetLen(args [][]byte) int {
	n := wire.HeaderSize
	for i, a := range args {
		if i > 0 {
			n++
		}
		n += len(a)
	}
	return n
}

// roomLocked reports whether n more bytes of output fit c's limit; when
// they do not, it drops c's output, starts closing c, and unlocks outMu.
// outMu held.
func (c *conn) roomLocked(n int) bool {
	if int64(len(c.out)+c.vecLen+c.inflight+n) <= c.s.cfg.MaxOutbound {
		return true
	}
	c.overflown = true
	c.out, c.vec, c.vecLen = nil, nil, 0
	c.outMu.Unlock()
	c.s.logWarn("closing a connection that does not read its replies", "conn", c.id, "addr", c.ip,
		"queued", c.s.cfg.MaxOutbound)
	c.kill()
	return false
}

// kill makes c's reader and writer stop at once: their blocked reads and
// writes fail, and the reader's next read does too (see deadlineReader).
func (c *conn) kill() {
	c.killed.Store(true)
	c.nc.SetDeadline(time.Now())
}

// rollLocked moves out to vec, before more is appended, once it holds
// outChunk: out grows to at most outChunk plus one packet. outMu held.
func (c *conn) rollLocked() {
	if len(c.out) >= outChunk {
		c.vec = append(c.vec, c.out)
		c.vecLen += len(c.out)
		c.out = nil
	}
}

// A worker's result goes to its clients by reference, without a copy,
// when it is large (refResultMin) or a client has a backlog (outChunk
// unsent): the reader then keeps the packet's memory (wire.Reader.Keep).
// Otherwise it is copied, as small packets are: a kept body costs the
// reader new memory for the next one, where a copy into a client's output
// reuses both buffers.
const refResultMin = 16 << 20

// toClientsFrom sends a result packet from worker w about j to each
// attached client: by reference when w's request owns its memory
// (conn.owned) or can be made to (keepResult), else copied.
func (s *Server) toClientsFrom(w *conn, j *job, t wire.Type, args ...[]byte) {
	if !w.owned && t.HasData() && s.wantRef(j, len(args[len(args)-1])) && w.keep != nil {
		w.owned = w.keep()
	}
	if !w.owned {
		s.toClients(j, t, args...)
		return
	}
	for _, c := range j.clients {
		c.sendRefFor(t, args...)
	}
}

// wantRef reports whether a result of n bytes for j's clients should go
// by reference.
func (s *Server) wantRef(j *job, n int) bool {
	if n < wire.LargeData || len(j.clients) == 0 {
		return false
	}
	if n >= refResultMin {
		return true
	}
	for _, c := range j.clients {
		if c.backlog() >= outChunk {
			return true
		}
	}
	return false
}

// backlog returns the bytes queued for c and not yet written.
func (c *conn) backlog() int {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return len(c.out) + c.vecLen + c.inflight
}
