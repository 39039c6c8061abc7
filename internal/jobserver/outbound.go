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
// one buffer packets are copied into, is moved to vec whenever it reaches
// outChunk, so no contiguous buffer grows with the backlog and no large
// copy is made under Server.mu.

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

// rollLocked moves out to vec once it reaches outChunk. outMu held.
func (c *conn) rollLocked() {
	if len(c.out) >= outChunk {
		c.vec = append(c.vec, c.out)
		c.vecLen += len(c.out)
		c.out = nil
	}
}

// isResult reports whether t is a worker's result packet that the server
// forwards to clients with its data.
func isResult(t wire.Type) bool {
	switch t {
	case wire.WorkData, wire.WorkWarning, wire.WorkComplete, wire.WorkException:
		return true
	}
	return false
}

// keepable reports whether the memory of packet p should become the
// server's (wire.Reader.Keep): a submit's payload, which its job keeps, and
// a large result, which goes to the clients' output by reference.
func keepable(p wire.Packet) bool {
	return isSubmit(p.Type) || isResult(p.Type) && len(p.Args[len(p.Args)-1]) >= refMin
}

// toClientsFrom sends a result packet from worker w about j to each
// attached client: by reference when w's request owns its memory
// (conn.owned), else copied.
func (s *Server) toClientsFrom(w *conn, j *job, t wire.Type, args ...[]byte) {
	if !w.owned {
		s.toClients(j, t, args...)
		return
	}
	for _, c := range j.clients {
		c.sendRefFor(t, args...)
	}
}
