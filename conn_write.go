package gearman

import (
	"net"
	"sync"

	"github.com/seed749d6d6d/gearman/wire"
)

// outQueue is a connection's write path. Any goroutine may enqueue packets;
// one goroutine (writeLoop) writes them, many per system call. Enqueueing
// never blocks on the socket, so the read loop can answer a NOOP without
// risking a write-versus-read deadlock.
type outQueue struct {
	mu      sync.Mutex
	segs    []outSeg // waiting to be written, in order
	wake    chan struct{}
	err     error  // set when the connection failed or closed
	queued  uint64 // sequence number of the last segment queued
	written uint64 // sequence number of the last segment written
	size    int    // bytes queued and not yet written
	room    sync.Cond
}

// highWater is the queued size above which task writes wait (waitRoom).
const highWater = 4 << 20

// outSeg is a run of bytes to write. Small packets are appended to an owned
// segment; a large data argument is a borrowed segment that refers to the
// caller's memory, and done (if not nil) is closed once it has been written.
type outSeg struct {
	b    []byte
	own  bool
	done chan error
	seq  uint64
}

const segMax = 64 << 10 // small packets share a segment up to this size

func newOutQueue() *outQueue {
	q := &outQueue{wake: make(chan struct{}, 1)}
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
	s := q.ownSeg()
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
			q.segs = append(q.segs, outSeg{b: data, done: done, seq: q.queued})
			done = nil
		}
	}
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	seq := q.queued
	if done != nil {
		// A small packet whose caller waits: mark the owned segment.
		q.queued++
		seq = q.queued
		q.segs = append(q.segs, outSeg{done: done, seq: seq})
	}
	q.mu.Unlock()
	q.signal()
	return seq, nil
}

// raw queues bytes as they are (an admin line).
func (q *outQueue) raw(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	s := q.ownSeg()
	s.b = append(s.b, b...)
	q.size += len(b)
	q.signal()
	return nil
}

// ownSeg returns the owned segment at the tail, starting one when needed.
// q.mu must be held.
func (q *outQueue) ownSeg() *outSeg {
	if n := len(q.segs); n > 0 && q.segs[n-1].own && len(q.segs[n-1].b) < segMax {
		return &q.segs[n-1]
	}
	q.queued++
	q.segs = append(q.segs, outSeg{own: true, b: getSegBuf(), seq: q.queued})
	return &q.segs[len(q.segs)-1]
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
	segs := q.segs
	q.segs = nil
	q.size = 0
	q.room.Broadcast()
	q.mu.Unlock()
	for _, s := range segs {
		if s.done != nil {
			s.done <- err
		}
		if s.own {
			putSegBuf(s.b)
		}
	}
	q.signal()
}

// writeLoop writes queued segments to c until the queue fails or stop closes.
// It returns the write error, if any.
func (q *outQueue) writeLoop(c net.Conn, stop <-chan struct{}) error {
	var batch []outSeg
	var vecs [][]byte
	for {
		select {
		case <-q.wake:
		case <-stop:
			return nil
		}
		q.mu.Lock()
		batch, q.segs = q.segs, batch[:0]
		failed := q.err
		q.mu.Unlock()
		if failed != nil {
			q.releaseBatch(batch, failed)
			return nil
		}
		if len(batch) == 0 {
			continue
		}
		vecs = vecs[:0]
		n := 0
		for _, s := range batch {
			if len(s.b) > 0 {
				vecs = append(vecs, s.b)
				n += len(s.b)
			}
		}
		vec := net.Buffers(vecs)
		_, err := vec.WriteTo(c)
		clear(vecs)
		q.mu.Lock()
		// After a failed write some of the batch may have left: count it
		// all as written, so that no submit in it passes for unsent.
		q.written = batch[len(batch)-1].seq
		q.size -= n
		q.room.Broadcast()
		q.mu.Unlock()
		q.releaseBatch(batch, err)
		if err != nil {
			return err
		}
		clear(batch)
		batch = batch[:0]
	}
}

func (q *outQueue) releaseBatch(batch []outSeg, err error) {
	for _, s := range batch {
		if s.done != nil {
			s.done <- err
		}
		if s.own {
			putSegBuf(s.b)
		}
	}
}

var segPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getSegBuf() []byte { return (*segPool.Get().(*[]byte))[:0] }

func putSegBuf(b []byte) {
	if cap(b) > 256<<10 {
		return
	}
	segPool.Put(&b)
}
