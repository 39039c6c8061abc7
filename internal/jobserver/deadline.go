package jobserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"time"
)

// A peer that starts a packet (or an admin line) must finish it in good
// time, and a TLS peer must finish its handshake: otherwise a few hundred
// peers that never do would hold every connection MaxConnections allows.
// A connection idle between packets is never cut (workers sleep for
// hours).

// Defaults of Config.HandshakeTimeout and Config.PacketTimeout.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultPacketTimeout    = 60 * time.Second
)

// packetProgress is how much of a started packet must arrive within each
// PacketTimeout: a large packet may take longer than one PacketTimeout as
// long as it keeps coming at this pace (17 KiB/s with the default).
const packetProgress = 1 << 20

// errKilled is a read refused because the connection is being closed.
var errKilled = errors.New("gearman: connection closed by the server")

// deadlineReader is a connection's source for its wire.Reader: it sets a
// read deadline while a packet is incomplete, and none between packets.
// Only the connection's reader uses it. A deadline costs nothing for a
// packet that arrives in one read.
type deadlineReader struct {
	c        *conn
	src      io.Reader
	timeout  time.Duration
	started  bool // the next packet's first bytes have been read
	pending  bool // the started packet has no deadline of its own yet
	set      bool // a read deadline is set on the connection
	sinceArm int  // bytes read since the deadline was last set
}

// newDeadlineReader returns src with the deadlines of c's packets, or src
// itself when Config.PacketTimeout turns them off.
func (s *Server) newDeadlineReader(c *conn, src io.Reader) (io.Reader, *deadlineReader) {
	if s.cfg.PacketTimeout <= 0 {
		return src, nil
	}
	r := &deadlineReader{c: c, src: src, timeout: s.cfg.PacketTimeout}
	return r, r
}

// next is called before each packet is read: buffered tells whether some
// of it is in the wire.Reader's buffer already (it has started).
func (r *deadlineReader) next(buffered bool) {
	if r != nil {
		r.started, r.pending = buffered, true
	}
}

// Read reads from the connection under the deadline of the packet being
// read, if one has started.
func (r *deadlineReader) Read(b []byte) (int, error) {
	if !r.started {
		if r.set {
			r.c.nc.SetReadDeadline(time.Time{})
			r.set = false
			if r.c.killed.Load() { // kill's deadline may have just been lifted
				return 0, errKilled
			}
		}
		n, err := r.src.Read(b)
		if n > 0 {
			r.started = true
		}
		return n, err
	}
	if r.pending || r.sinceArm >= packetProgress {
		r.c.nc.SetReadDeadline(time.Now().Add(r.timeout))
		r.pending, r.set, r.sinceArm = false, true, 0
		if r.c.killed.Load() {
			return 0, errKilled
		}
	}
	n, err := r.src.Read(b)
	r.sinceArm += n
	return n, err
}

// timedOut reports whether err is a packet's deadline passing (not a kill).
func (r *deadlineReader) timedOut(err error) bool {
	return r != nil && r.set && !r.c.killed.Load() && errors.Is(err, os.ErrDeadlineExceeded)
}

// handshake completes a TLS connection's handshake within
// Config.HandshakeTimeout; it reports whether the connection may go on.
// Other connections need none.
func (s *Server) handshake(c *conn) bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx := context.Background()
	if d := s.cfg.HandshakeTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.logWarn("closing a connection that did not finish its TLS handshake in time",
				"conn", c.id, "addr", c.ip, "timeout", s.cfg.HandshakeTimeout)
		} else {
			s.logDebug("TLS handshake failed", "conn", c.id, "addr", c.ip, "err", err)
		}
		return false
	}
	return true
}
