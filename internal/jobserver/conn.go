package jobserver

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/wire"
)

// readBufferSize is each connection's read buffer. Packets larger than it
// are read into a separate buffer that the connection keeps for reuse.
const readBufferSize = 16 << 10

// writeTimeout bounds one write to a peer that has stopped reading: such a
// peer loses its connection rather than holding buffers forever.
const writeTimeout = 60 * time.Second

// A conn is one client, worker or admin connection.
//
// Its reader runs in the goroutine of [Server.ServeConn] and handles every
// request under Server.mu; its writer goroutine sends what the engine queued
// in out, many packets per write call.
type conn struct {
	s  *Server
	nc net.Conn
	id int    // shown as the "fd" in the workers list
	ip string // the peer's address without the port

	// Guarded by Server.mu.
	clientID        string
	regs            []reg       // registrations in the order they came (duplicates kept)
	funcs           []*function // distinct registered functions, for dispatch
	rotor           int         // round-robin start in funcs
	timeouts        map[*function]time.Duration
	sleeping        bool            // sent PRE_SLEEP and found nothing
	noopSent        bool            // has been NOOPed since its last grab
	sleepGen        uint64          // bumped at each PRE_SLEEP, to spot stale sleeper entries
	wokenFor        *function       // the function whose wake-up count this conn's NOOP took
	wokenHigh       bool            // that NOOP is in wokenFor's highWoken too
	wakeID          uint64          // its NOOP's current wake-up (wake.go); 0 = none, or expired
	exceptions      bool            // OPTION_REQ exceptions
	streaming       bool            // OPTION_REQ streaming: see lose and submit
	chunks          bool            // OPTION_REQ stream-chunks: the extension (stream.go)
	highOnly        bool            // OPTION_REQ grab-high: grabs take high-priority jobs only (grabhigh.go)
	assignedNotices bool            // OPTION_REQ job-assigned: told when its jobs start (assigned.go)
	streams         map[string]*job // open stream ids; nil for a refused or dropped stream
	allYours        bool            // ALL_YOURS: assign directly instead of NOOP
	grabType        wire.Type       // the last grab type, for ALL_YOURS assignments
	holding         []*job          // jobs assigned to this connection
	attached        map[*job]int    // jobs this client waits on, with the number of attachments
	gone            bool            // detached from the engine

	// Guarded by Server.mu: the functions c registered or submitted to
	// (names.go), and the last of them, to skip the map on repeats.
	touched     map[*function]struct{}
	lastTouched *function

	// wmu is held for every write to nc, by the writer goroutine or by the
	// reader sending its own replies inline; whoever holds it takes all of
	// out, so packets keep their order.
	wmu sync.Mutex
	// owned (reader only): the request being handled was read into memory
	// of its own (wire.Reader.Keep) that a job may keep.
	owned bool
	// keep (reader only) is the reader's wire.Reader.Keep, for a handler
	// that wants the request's memory after all (toClientsFrom).
	keep func() bool
	// Answers to submits that wait for the store (durable.go): acks and
	// answering are guarded by Server.mu; nAcks is len(acks), for the
	// reader to check without the lock; acksSent wakes the reader as
	// answers go out.
	acks      []ack
	answering bool
	nAcks     atomic.Int32
	acksSent  chan struct{}
	// deferBuf (reader only) backs Server.deferred while the reader
	// handles a request.
	deferBuf []*conn
	// wakeDeferred (guarded by Server.mu): c is in Server.deferred.
	wakeDeferred bool
	// On a plain socket (nonblock.Plain), every read and write goes
	// through these, with cheaper system calls than nc's own methods;
	// flushOwn's writes that must not wait need raw. Nil otherwise.
	raw   *nonblock.Writer
	rawIn *nonblock.Reader

	// Guarded by outMu.
	outMu     sync.Mutex
	out       []byte   // encoded packets waiting for the writer, after vec
	vec       [][]byte // earlier output holding large data by reference (sendRef)
	vecLen    int      // bytes in vec
	inflight  int      // bytes the writer (or tryFlush) took and has not finished writing
	outDone   bool     // no more output: the writer exits once out is sent
	overflown bool     // out passed the limit; the connection is being closed
	inline    bool     // the reader is handling a request and sends its replies itself
	spare     []byte   // the writer's previous buffer, for reuse
	wake      chan struct{}
	writerEnd chan struct{}

	// killed is set before a deadline in the past stops c's reader and
	// writer (kill), so that the reader's deadline handling does not
	// lift it (deadlineReader).
	killed atomic.Bool
}

// reg is one CAN_DO or CAN_DO_TIMEOUT registration.
type reg struct {
	fn      *function
	timeout time.Duration // 0 = none
	ext     bool          // counted in fn.extWorkers
}

// send queues an encoded packet for c. It never blocks. A packet that
// would take the connection's unsent output past the outbound limit closes
// the connection instead: see Config.MaxOutbound and roomLocked.
func (c *conn) send(m wire.Magic, t wire.Type, args ...[]byte) {
	c.outMu.Lock()
	if !c.reserveLocked(packetLen(args)) {
		return
	}
	c.rollLocked()
	c.out, _ = wire.AppendPacket(c.out, m, t, args...)
	c.flushLocked()
}

// sendFor is send from the engine, Server.mu held, to a connection that may
// not be the one whose request is being handled: its writer is not woken
// at once; the handler's goroutine writes to it once it has released
// Server.mu (see Server.deferWake).
func (c *conn) sendFor(t wire.Type, args ...[]byte) {
	c.outMu.Lock()
	if !c.reserveLocked(packetLen(args)) {
		return
	}
	c.rollLocked()
	c.out, _ = wire.AppendPacket(c.out, wire.Res, t, args...)
	c.flushLockedFor(true)
}

// reserveLocked reports whether n more bytes may be queued for c; when not
// (the output has ended, or would pass the limit) it unlocks outMu.
func (c *conn) reserveLocked(n int) bool {
	if c.outDone || c.overflown {
		c.outMu.Unlock()
		return false
	}
	return c.roomLocked(n)
}

// sendRef is send for a packet whose data argument (the last) is memory
// nobody changes any more (a job's payload, or a result the reader kept):
// from wire.LargeData bytes on it is queued by reference, not copied.
func (c *conn) sendRef(m wire.Magic, t wire.Type, args ...[]byte) {
	c.sendRefMaybeFor(false, m, t, args)
}

// sendRefFor is sendRef from the engine to a connection that may not be
// the one whose request is being handled, as sendFor.
func (c *conn) sendRefFor(t wire.Type, args ...[]byte) {
	c.sendRefMaybeFor(true, wire.Res, t, args)
}

// sendRefMaybeFor is sendRef (deferred false) or sendRefFor.
func (c *conn) sendRefMaybeFor(deferred bool, m wire.Magic, t wire.Type, args [][]byte) {
	data := args[len(args)-1]
	if len(data) < wire.LargeData || !t.HasData() {
		if deferred {
			c.sendFor(t, args...)
		} else {
			c.send(m, t, args...)
		}
		return
	}
	c.outMu.Lock()
	if !c.reserveLocked(packetLen(args)) {
		return
	}
	c.out, _ = wire.AppendLeading(c.out, m, t, args[:len(args)-1], int64(len(data)))
	c.vec = append(c.vec, c.out, data)
	c.vecLen += len(c.out) + len(data)
	c.out = nil
	c.flushLockedFor(deferred)
}

// sendRaw queues raw bytes (an admin reply) for c.
func (c *conn) sendRaw(b []byte) {
	c.outMu.Lock()
	if !c.reserveLocked(len(b)) {
		return
	}
	c.rollLocked()
	c.out = append(c.out, b...)
	c.flushLocked()
}

// flushLocked wakes the writer; it unlocks outMu.
func (c *conn) flushLocked() { c.flushLockedFor(false) }

// flushLockedFor is flushLocked; with deferred (Server.mu held), the
// writer's wake-up may be left to the handler (Server.deferWake).
func (c *conn) flushLockedFor(deferred bool) {
	inline := c.inline
	c.outMu.Unlock()
	switch {
	case inline: // its own reader sends it (flushOwn)
	case deferred:
		c.s.deferWake(c)
	default:
		c.wakeWriter()
	}
}

// writeLoop sends queued output until the connection ends.
func (c *conn) writeLoop() {
	defer close(c.writerEnd)
	for {
		<-c.wake
		if done := c.writeOut(); done {
			return
		}
	}
}

// writeOut writes everything queued; it reports whether the output has
// ended (closed, or a write failed).
func (c *conn) writeOut() (done bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeOutLocked()
}

// writeOutLocked is writeOut with wmu held.
func (c *conn) writeOutLocked() (done bool) {
	c.outMu.Lock()
	vec, buf, done := c.vec, c.out, c.outDone
	taken := c.vecLen + len(buf)
	c.inflight += taken
	c.vec, c.vecLen = nil, 0
	c.out = c.spare[:0]
	c.spare = nil
	c.outMu.Unlock()
	if len(buf) > 0 || len(vec) > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		switch {
		case c.raw != nil:
			_, err = c.raw.WriteBuffers(append(vec, buf))
		case len(vec) == 0:
			_, err = c.nc.Write(buf)
		default:
			bufs := net.Buffers(append(vec, buf))
			_, err = bufs.WriteTo(c.nc)
		}
		if err != nil {
			c.killed.Store(true)
			c.nc.SetReadDeadline(time.Now()) // make the reader notice
			c.outMu.Lock()
			c.outDone, c.out, c.vec, c.vecLen = true, nil, nil, 0
			c.inflight -= taken
			c.outMu.Unlock()
			return true
		}
	}
	c.outMu.Lock()
	c.inflight -= taken
	if cap(buf) <= 4<<20 {
		c.spare = buf[:0]
	}
	c.outMu.Unlock()
	return done
}

// flushOwn sends the replies the reader queued for its own connection
// without waking the writer goroutine, when the socket takes them at once.
// It never blocks: the reader must keep reading, or a worker that is itself
// blocked writing results to us while we write its payload would deadlock
// with us. What the socket does not take at once goes to the writer.
func (c *conn) flushOwn() {
	c.outMu.Lock()
	c.inline = false
	c.outMu.Unlock()
	c.tryFlush()
}

// tryFlush writes what is queued for c if the socket takes it at once and
// c's writer is not busy, and leaves the rest to the writer, which it
// wakes. It never blocks. Any goroutine may call it.
func (c *conn) tryFlush() {
	if c.raw == nil || !c.wmu.TryLock() {
		c.wakeWriter() // no non-blocking write here, or the writer is busy
		return
	}
	defer c.wmu.Unlock()
	c.outMu.Lock()
	if len(c.vec) > 0 {
		// Large data goes by the writer, which may block.
		c.outMu.Unlock()
		c.wakeWriter()
		return
	}
	if len(c.out) == 0 {
		c.outMu.Unlock()
		return
	}
	buf := c.out
	c.out = c.spare[:0]
	c.spare = nil
	c.inflight += len(buf)
	c.outMu.Unlock()
	n := c.raw.TryWrite(buf)
	if n == len(buf) {
		c.outMu.Lock()
		c.inflight -= len(buf)
		if cap(buf) <= 4<<20 {
			c.spare = buf[:0]
		}
		c.outMu.Unlock()
		return
	}
	// Put the rest back in front of what was queued since, for the writer:
	// in front of vec if sendRef has moved that there meanwhile (the
	// writer sends vec first).
	rest := buf[n:len(buf):len(buf)]
	c.outMu.Lock()
	c.inflight -= len(buf)
	if c.overflown {
		// Closed meanwhile: the rest goes nowhere.
		c.outMu.Unlock()
		c.wakeWriter()
		return
	}
	if len(c.vec) > 0 {
		c.vec = append([][]byte{rest}, c.vec...)
		c.vecLen += len(rest)
	} else {
		c.out = append(rest, c.out...)
	}
	c.outMu.Unlock()
	c.wakeWriter()
}

// wakeWriter wakes the writer goroutine if it sleeps.
func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// endOutput tells the writer to send what is queued and stop.
func (c *conn) endOutput() {
	c.outMu.Lock()
	c.outDone = true
	c.outMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// serve runs the read loop of c; it returns when the connection ends.
func (s *Server) serve(c *conn) {
	go c.writeLoop()
	if s.handshake(c) {
		s.readLoop(c)
	}
	s.mu.Lock()
	s.detach(c)
	s.mu.Unlock()
	c.endOutput()
	select {
	case <-c.writerEnd:
	case <-time.After(writeTimeout):
	}
	c.nc.Close()
	<-c.writerEnd
}

// readLoop reads and handles c's requests until the connection ends or a
// request closes it.
func (s *Server) readLoop(c *conn) {
	var src io.Reader = c.nc
	if c.rawIn != nil {
		src = c.rawIn
	}
	src, dr := s.newDeadlineReader(c, src)
	rd := wire.NewReaderSize(src, readBufferSize)
	rd.SetMaxPacketSize(s.cfg.MaxPacketSize)
	c.keep = rd.Keep
	for {
		dr.next(rd.Buffered() > 0)
		p, err := rd.Next()
		if err != nil {
			if dr.timedOut(err) {
				s.logWarn("closing a connection that did not finish a packet in time",
					"conn", c.id, "addr", c.ip, "timeout", s.cfg.PacketTimeout)
			}
			s.readError(c, err)
			break
		}
		// A large payload becomes the job's as it is, without a copy
		// under the server's lock (see ownData); a large result may
		// go to the clients by reference (c.keep, toClientsFrom). Other
		// large packets are copied where they go: the reader's buffer is
		// reused.
		c.owned = inlineSubmit(p.Type) && rd.Keep()
		if c.nAcks.Load() > 0 {
			limit := int32(0) // another kind of request waits for every answer
			if s.joinsAcks(p) {
				limit = maxAcks / 2
				if c.nAcks.Load() < maxAcks {
					limit = maxAcks
				}
			}
			if !s.awaitAcks(c, limit) {
				break
			}
		}
		c.outMu.Lock()
		c.inline = true
		c.outMu.Unlock()
		if !s.handle(c, p) {
			break
		}
		if rd.Buffered() == 0 {
			c.flushOwn()
		} else {
			// More requests are buffered (or part of one, which may take
			// a while): the writer sends these replies meanwhile.
			c.outMu.Lock()
			c.inline = false
			c.outMu.Unlock()
			c.wakeWriter()
		}
	}
}

// readError answers a malformed stream with an ERROR packet (or an admin
// ERR line) before the connection closes. Network errors and EOF close
// silently.
func (s *Server) readError(c *conn, err error) {
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		return
	}
	s.logDebug("protocol error", "conn", c.id, "addr", c.ip, "err", err)
	switch {
	case errors.Is(pe.Err, io.ErrUnexpectedEOF):
		return
	case errors.Is(pe.Err, wire.ErrLineTooLong):
		c.sendRaw([]byte("ERR INVALID_ARGUMENTS Line+too+long\r\n"))
	case errors.Is(pe.Err, wire.ErrBadMagic):
		c.send(wire.Res, wire.Error, []byte("INVALID_MAGIC"), []byte("Invalid packet magic"))
	case errors.Is(pe.Err, wire.ErrUnknownType):
		c.send(wire.Res, wire.Error, []byte("INVALID_COMMAND"), []byte("Unknown packet type"))
	case errors.Is(pe.Err, wire.ErrTooLarge):
		c.send(wire.Res, wire.Error, []byte("ARGUMENT_TOO_LARGE"), []byte("Packet larger than the server accepts"))
	default:
		c.send(wire.Res, wire.Error, []byte("INVALID_ARGUMENT"), []byte("Malformed packet"))
	}
}

// peerIP returns the address part of a connection's remote address.
func peerIP(nc net.Conn) string {
	a := nc.RemoteAddr()
	if a == nil {
		return "-"
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil || h == "" {
		return "-"
	}
	return h
}
