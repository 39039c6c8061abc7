package gearman

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/wire"
)

// outQueue is a connection's write path. Any goroutine may enqueue packets,
// many of which go out in one system call. Whoever holds the writing token
// writes: a caller that may block (a submit, a handler's result) takes it and
// writes at once, saving a hand-off. The read loop never waits on the
// socket, so that it can answer a NOOP without risking a write-versus-read
// deadlock: it writes what the socket takes at once (tryDrain) and leaves
// the rest to the connection's writer goroutine.
type outQueue struct {
	nc      net.Conn
	sock    *nonblock.Writer // for tryDrain; nil when nc is not a socket
	rawIO   bool             // writes that wait go through sock too ([socketType])
	mu      sync.Mutex
	segs    []outSeg // waiting to be written, in order
	spare   []outSeg // the other batch slice, reused
	wake    chan struct{}
	writing bool   // someone holds the writing token
	err     error  // set when the connection failed or closed
	queued  uint64 // sequence number of the last segment queued
	written uint64 // sequence number of the last segment handed to the socket
	size    int    // bytes queued and not yet written
	room    sync.Cond

	// While a payload of declared size streams (Job.Size), its packet's
	// body must not be interleaved: other packets wait in parked.
	body   bool
	parked []outSeg
	vecs   net.Buffers // reused by the token holder
	vecArr [][]byte

	trace     *PacketTrace // Options.Trace when it has a Sent hook, else nil
	traceAddr string
	traceBuf  []byte               // copies of a traced packet's arguments
	traceArgs [wire.MaxArgs][]byte // and their slices ([outQueue.traceSentLead])
}

// highWater is the queued size above which task writes wait (waitRoom).
const highWater = 4 << 20

// outSeg is a run of bytes to write. Small packets are appended to an owned
// segment; a large data argument is a borrowed segment that refers to the
// caller's memory, and done (if not nil) is closed once it has been written.
type outSeg struct {
	b    []byte
	own  *[]byte // the pooled buffer behind b, for an owned segment
	done chan error
	seq  uint64
}

const segMax = 64 << 10 // small packets share a segment up to this size

// A data argument of wire.LargeData bytes or more is written from the
// caller's memory, not copied (by reference): its done channel tells the
// caller when it may reuse it.

func newOutQueue(nc net.Conn) *outQueue {
	q := &outQueue{nc: nc, wake: make(chan struct{}, 1)}
	if plainSocket(nc) {
		q.sock = nonblock.NewWriter(nc)
		q.rawIO = q.sock != nil && socketType(nc)
	}
	q.room.L = &q.mu
	return q
}

// waitRoom blocks while more than highWater bytes wait to be written, so a
// task that writes faster than the network cannot grow the queue without
// bound. Only task data writers wait; the read loop never does.
func (q *outQueue) waitRoom() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.size > highWater && q.err == nil {
		q.room.Wait()
	}
}

// packet queues one packet and returns its sequence number. A last argument
// of wire.LargeData bytes or more is referenced, not copied: the caller must
// not modify it until it is written (pass done to learn when).
func (q *outQueue) packet(t wire.Type, done chan error, args ...[]byte) (uint64, error) {
	q.mu.Lock()
	if q.err != nil {
		err := q.err
		q.mu.Unlock()
		return 0, err
	}
	// Only a data argument goes by reference: appendLeading frames nothing
	// else, and a long function name or handle is copied.
	large := t.HasData() && len(args) > 0 && len(args[len(args)-1]) >= wire.LargeData
	l := q.list()
	s := q.ownSeg(l)
	var err error
	before := len(s.b)
	if !large {
		s.b, err = wire.AppendPacket(s.b, wire.Req, t, args...)
		q.size += len(s.b) - before
	} else {
		data := args[len(args)-1]
		lead := args[:len(args)-1]
		s.b, err = wire.AppendLeading(s.b, wire.Req, t, lead, int64(len(data)))
		if err == nil {
			q.size += len(s.b) - before + len(data)
			q.queued++
			*l = append(*l, outSeg{b: data, done: done, seq: q.queued})
			done = nil
		}
	}
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	if q.trace != nil {
		q.traceSent(t, args)
	}
	seq := q.queued
	if done != nil {
		// A small packet whose caller waits: mark the owned segment.
		q.queued++
		seq = q.queued
		*l = append(*l, outSeg{done: done, seq: seq})
	}
	q.mu.Unlock()
	return seq, nil
}

// packetChunks queues a packet whose data argument is chunks one after the
// other, and returns its sequence number (that of its last segment). Chunks
// under wire.LargeData bytes are copied; larger ones are referenced, not copied: the
// caller must not modify them until they are written.
func (q *outQueue) packetChunks(t wire.Type, lead [][]byte, chunks [][]byte) (uint64, error) {
	var n int64
	for _, c := range chunks {
		n += int64(len(c))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	l := q.list()
	s := q.ownSeg(l)
	before := len(s.b)
	var err error
	s.b, err = wire.AppendLeading(s.b, wire.Req, t, lead, n)
	if err != nil {
		return 0, err
	}
	if q.trace != nil {
		var data []byte
		if len(chunks) == 1 {
			data = chunks[0]
		}
		q.traceSentLead(t, lead, n, data)
	}
	q.size += len(s.b) - before
	for _, c := range chunks {
		if len(c) < wire.LargeData {
			s := q.ownSeg(l)
			s.b = append(s.b, c...)
		} else {
			q.queued++
			*l = append(*l, outSeg{b: c, seq: q.queued})
		}
		q.size += len(c)
	}
	return q.queued, nil
}

// list returns where a new packet goes: behind a declared-size body being
// written, it waits. q.mu held.
func (q *outQueue) list() *[]outSeg {
	if q.body {
		return &q.parked
	}
	return &q.segs
}

// beginBody queues the header and leading arguments of a packet whose n-byte
// data argument follows through bodyData, and holds every other packet back
// until endBody. It returns the header's sequence number.
func (q *outQueue) beginBody(t wire.Type, lead [][]byte, n int64) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	if q.body {
		return 0, errors.New("gearman: a declared-size payload is already being sent on this connection")
	}
	s := q.ownSeg(&q.segs)
	before := len(s.b)
	var err error
	s.b, err = wire.AppendLeading(s.b, wire.Req, t, lead, n)
	if err != nil {
		return 0, err
	}
	if q.trace != nil {
		q.traceSentLead(t, lead, n, nil)
	}
	q.size += len(s.b) - before
	q.body = n > 0
	return q.queued, nil
}

// bodyData queues part of the body begun by beginBody. Data under wire.LargeData
// bytes is copied; larger data is referenced, and done (which must then be
// set) is signalled once it is written.
func (q *outQueue) bodyData(p []byte, done chan error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	if len(p) < wire.LargeData || done == nil {
		s := q.ownSeg(&q.segs)
		s.b = append(s.b, p...)
		if done != nil {
			q.queued++
			q.segs = append(q.segs, outSeg{done: done, seq: q.queued})
		}
	} else {
		q.queued++
		q.segs = append(q.segs, outSeg{b: p, done: done, seq: q.queued})
	}
	q.size += len(p)
	return nil
}

// endBody ends the body: the packets held back follow it.
func (q *outQueue) endBody() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.body = false
	q.segs = append(q.segs, q.parked...)
	clear(q.parked)
	q.parked = q.parked[:0]
}

// raw queues bytes as they are (an admin line).
func (q *outQueue) raw(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	s := q.ownSeg(q.list())
	s.b = append(s.b, b...)
	q.size += len(b)
	q.signal()
	return nil
}

// ownSeg returns the owned segment at the tail of l, starting one when
// needed.
// q.mu must be held.
func (q *outQueue) ownSeg(l *[]outSeg) *outSeg {
	if n := len(*l); n > 0 && (*l)[n-1].own != nil && len((*l)[n-1].b) < segMax {
		return &(*l)[n-1]
	}
	q.queued++
	bp := segPool.Get().(*[]byte)
	*l = append(*l, outSeg{own: bp, b: (*bp)[:0], seq: q.queued})
	return &(*l)[len(*l)-1]
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// isWritten reports whether the segment with sequence number seq has been
// handed to the socket.
func (q *outQueue) isWritten(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.written >= seq
}

// fail stops the queue: later packets get err, waiting writers are released.
func (q *outQueue) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	segs := append(q.segs, q.parked...)
	q.segs, q.parked = nil, nil
	q.size = 0
	q.room.Broadcast()
	q.mu.Unlock()
	releaseSegs(segs, err)
	q.signal()
}

// writeLoop is the connection's writer goroutine: it writes what the read
// loop queues (and whatever no caller is writing) until the queue fails or
// stop closes. It returns the write error, if any.
func (q *outQueue) writeLoop(stop <-chan struct{}) error {
	for {
		select {
		case <-q.wake:
		case <-stop:
			return nil
		}
		if err := q.drain(); err != nil {
			return err
		}
	}
}

// drain writes everything queued, unless another goroutine holds the writing
// token (it will write what is queued before it lets go). It returns the
// write error, after which the connection is unusable.
func (q *outQueue) drain() error {
	q.mu.Lock()
	if q.writing {
		q.mu.Unlock()
		return nil
	}
	q.writing = true
	for len(q.segs) > 0 && q.err == nil {
		batch := q.segs
		q.segs = q.spare[:0]
		// Counted as written before the write: after a failure some of
		// the batch may have left, and no submit in it may pass for unsent.
		for _, s := range batch {
			q.written = max(q.written, s.seq)
		}
		q.mu.Unlock()
		n, err := q.write(batch)
		releaseSegs(batch, err)
		clear(batch)
		q.mu.Lock()
		q.spare = batch[:0]
		q.size -= n
		q.room.Broadcast()
		if err != nil {
			q.writing = false
			q.mu.Unlock()
			return err
		}
	}
	q.writing = false
	q.room.Broadcast() // wakes sync
	q.mu.Unlock()
	return nil
}

// tryDrain writes what is queued as far as the socket takes it without
// waiting, unless another goroutine holds the writing token (which writes it
// all before it lets go). It reports whether nothing is left for the writer
// goroutine. Write errors are left for that goroutine to meet.
func (q *outQueue) tryDrain() bool {
	q.mu.Lock()
	if q.writing || len(q.segs) == 0 || q.err != nil {
		q.mu.Unlock()
		return true
	}
	if q.sock == nil {
		q.mu.Unlock()
		return false
	}
	q.writing = true
	batch := q.segs
	q.segs = q.spare[:0]
	for _, s := range batch {
		q.written = max(q.written, s.seq) // as in drain
	}
	q.mu.Unlock()
	n, i := 0, 0
	for ; i < len(batch); i++ {
		b := batch[i].b
		k := q.sock.TryWrite(b)
		n += k
		if k < len(b) {
			batch[i].b = b[k:]
			break
		}
	}
	releaseSegs(batch[:i], nil)
	q.mu.Lock()
	if i < len(batch) {
		// The socket is full: what is left goes first, by the writer.
		q.segs = append(batch[i:], q.segs...)
	} else {
		clear(batch)
		q.spare = batch[:0]
	}
	q.size -= n
	q.writing = false
	q.room.Broadcast()
	empty := len(q.segs) == 0
	q.mu.Unlock()
	return empty
}

// sync waits until everything queued so far has been handed to the socket,
// the queue has failed, or ctx ends.
func (q *outQueue) sync(ctx context.Context) error {
	defer broadcastOnDone(ctx, &q.room)()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.segs) > 0 || q.writing) && q.err == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		q.room.Wait()
	}
	return q.err
}

// write writes a batch with one system call where it can. Only the token
// holder calls it.
func (q *outQueue) write(batch []outSeg) (int, error) {
	q.vecArr = q.vecArr[:0]
	n := 0
	for _, s := range batch {
		if len(s.b) > 0 {
			q.vecArr = append(q.vecArr, s.b)
			n += len(s.b)
		}
	}
	var err error
	switch {
	case len(q.vecArr) == 0:
	case q.rawIO:
		_, err = q.sock.WriteBuffers(q.vecArr)
	case len(q.vecArr) == 1:
		_, err = q.nc.Write(q.vecArr[0])
	default:
		q.vecs = q.vecArr
		_, err = q.vecs.WriteTo(q.nc)
	}
	clear(q.vecArr)
	return n, err
}

// releaseSegs tells the writers waiting on segments how the write went and
// returns the owned buffers to the pool.
func releaseSegs(segs []outSeg, err error) {
	for _, s := range segs {
		if s.done != nil {
			s.done <- err
		}
		if s.own != nil && cap(s.b) <= 256<<10 {
			*s.own = s.b[:0]
			segPool.Put(s.own)
		}
	}
}

var segPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
