package gearman

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/seed749d6d6d/gearman/wire"
)

// This file is the client and worker side of the streaming extension
// (wire/STREAMING.md): a client task's payload goes out in chunks as the
// caller writes, under the credit the server grants; its result comes under
// credit the task grants as the caller reads. A worker task mirrors it.

// streamChunk is the largest chunk this package sends.
const streamChunk = 64 << 10

// errPayloadAborted is the payload read error of a worker task whose
// client's payload will not complete.
var errPayloadAborted = fmt.Errorf("gearman: the job's payload was aborted: %w", ErrJobFailed)

// credit is one direction's send window: what the peer lets us send. A
// writer waits in take until there is some, or the stream stops.
type credit struct {
	mu   sync.Mutex
	cond sync.Cond
	n    int64
	err  error // set once: writing has stopped
}

func newCredit(n int64) *credit {
	c := &credit{n: n}
	c.cond.L = &c.mu
	return c
}

// add grants d more bytes.
func (c *credit) add(d int64) {
	c.mu.Lock()
	c.n += d
	c.cond.Broadcast()
	c.mu.Unlock()
}

// stop makes take fail with err from now on; the first err counts.
func (c *credit) stop(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

// stopErr returns the error stop set, or, before any, ErrClosed.
func (c *credit) stopErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClosed
	}
	return c.err
}

// take waits until some credit is there and takes up to want bytes of it;
// with all set it waits for want bytes, which must fit the window.
func (c *credit) take(want int64, all bool) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && (c.n <= 0 || all && c.n < want) {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	k := min(want, c.n)
	c.n -= k
	return k, nil
}

// grant batches the credit a reader gives back: it says how much to send
// once half a window is due.
type grant struct {
	mu  sync.Mutex
	due int64
}

func (g *grant) consumed(n int) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.due += int64(n)
	if g.due < wire.StreamWindow/2 {
		return 0
	}
	d := g.due
	g.due = 0
	return d
}

// tstream is the streaming state of a client task whose payload goes as a
// stream (SUBMIT_STREAM).
type tstream struct {
	id     string
	credit *credit
	result grant

	wmu     sync.Mutex // serialises writers; guards what follows
	pend    []byte     // written, not yet sent
	started bool       // SUBMIT_STREAM sent
	ended   bool       // STREAM_END or STREAM_ABORT sent (or never needed)

	stopped bool // the task has ended (stopStream); guarded by Conn.mu

	// A background task is done once created, but its context governs its
	// payload until that ends too: whichever of the two comes second
	// stops watching the context ([Task.end], [Task.payloadEnded]).
	taskDone    atomic.Bool // a background task ended with success (JOB_CREATED)
	payloadDone atomic.Bool // STREAM_END was sent, or the stream stopped
}

// payloadEnded records that the payload of t ended (STREAM_END sent, or
// the stream stopped), and stops watching the task's context if the task
// is done too: a background task's context governs its payload until
// then.
func (t *Task) payloadEnded() {
	t.st.payloadDone.Store(true)
	if t.st.taskDone.Load() {
		t.unwatch()
	}
}

// The stream is open on the wire while Conn.streams holds its task: from
// SUBMIT_STREAM until STREAM_END or STREAM_ABORT. Each of these packets,
// and every STREAM_DATA, is queued under Conn.mu together with that check,
// so that the order on the wire is the order of the decisions: nothing
// follows the stream's end, however a writer and the task's end (a
// cancelled context, the server's STREAM_ABORT) race.

// wstream is the streaming state of a worker task assigned with
// JOB_ASSIGN_STREAM.
type wstream struct {
	credit  *credit // result credit
	payload grant
}

// streamable reports whether job can go as a stream on c: c negotiated the
// extension, and the job is a plain submit without a unique id.
func (c *Conn) streamable(job *Job) bool {
	c.mu.Lock()
	ok := c.neg.chunks
	c.mu.Unlock()
	return ok && job.Unique == "" && job.At.IsZero() && job.Schedule == nil && job.Reducer == ""
}

// startStream makes t's payload a stream on c.
func (c *Conn) startStream(t *Task) {
	c.mu.Lock()
	c.cl.nextStream++
	id := strconv.FormatUint(c.cl.nextStream, 10)
	c.mu.Unlock()
	t.st = &tstream{id: id, credit: newCredit(wire.StreamWindow)}
	t.in.limit = max(t.in.limit, wire.StreamWindow)
	t.in.onRead = t.resultRead
}

// streamWrite appends p to the payload, sending full chunks as credit
// allows.
func (t *Task) streamWrite(p []byte) (int, error) {
	st := t.st
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.ended {
		return 0, fmt.Errorf("gearman: write to task %s: %w", t.fn, ErrClosed)
	}
	n := 0
	for len(p) > 0 {
		if st.pend == nil {
			st.pend = make([]byte, 0, streamChunk)
		}
		k := min(streamChunk-len(st.pend), len(p))
		st.pend = append(st.pend, p[:k]...)
		p = p[k:]
		n += k
		if len(st.pend) == streamChunk {
			if err := t.sendChunk(false); err != nil {
				return n - len(st.pend), err
			}
		}
	}
	return n, nil
}

// streamClose sends what is pending and ends the payload (STREAM_END), or
// aborts it when cause is not nil.
func (t *Task) streamClose(cause error) error {
	st := t.st
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.ended {
		return fmt.Errorf("gearman: close task %s: %w", t.fn, ErrClosed)
	}
	if cause != nil {
		t.finish(cause) // aborts the stream: see stopStream
		return nil
	}
	return t.sendChunk(true)
}

// sendChunk sends st.pend, first as SUBMIT_STREAM, then as STREAM_DATA,
// waiting for credit; with end it ends the payload too. st.wmu held.
func (t *Task) sendChunk(end bool) error {
	st, c := t.st, t.conn
	if _, err := st.credit.take(int64(len(st.pend)), true); err != nil {
		return err
	}
	var err error
	if !st.started {
		st.started = true
		err = c.submitStream(t, st.pend)
	} else if len(st.pend) > 0 {
		err = t.streamPacket(wire.StreamData, st.pend)
	}
	st.pend = st.pend[:0]
	if err == nil && end {
		st.ended = true
		err = t.streamPacket(wire.StreamEnd, nil)
		t.payloadEnded()
	}
	return err
}

// submitStream sends a task's SUBMIT_STREAM with the first chunk, unless
// the task has already ended. A first chunk of wire.LargeData bytes or more is sent
// from the caller's memory, and submitStream returns once it is written.
func (c *Conn) submitStream(t *Task, first []byte) error {
	st := t.st
	pt, _ := t.job.packetType()
	t.req = request{t: wire.SubmitStream, task: t}
	var done chan error
	if len(first) >= wire.LargeData {
		done = make(chan error, 1)
	}
	c.mu.Lock()
	stopped := st.stopped
	var err error
	if stopped {
		err = t.err
	} else if err = c.enqueueLocked(&t.req, done, []byte(st.id), strconv.AppendUint(nil, uint64(pt), 10), []byte(t.fn), first); err == nil {
		c.cl.streams[st.id] = t
	}
	c.mu.Unlock()
	if stopped {
		return err
	}
	if err != nil {
		err = &notSubmittedError{err}
		t.finish(err)
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if done != nil {
		return c.connErr(<-done)
	}
	return nil
}

// streamPacket sends STREAM_DATA with data, or STREAM_END, for t's open
// stream; it fails once the stream has been aborted. Data of wire.LargeData bytes or
// more is sent from the caller's memory, and streamPacket returns once it
// has been written.
func (t *Task) streamPacket(typ wire.Type, data []byte) error {
	st, c := t.st, t.conn
	c.out.waitRoom()
	var done chan error
	if len(data) >= wire.LargeData {
		done = make(chan error, 1)
	}
	c.mu.Lock()
	if c.cl.streams[st.id] != t {
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = st.credit.stopErr()
		}
		return err
	}
	var err error
	if typ == wire.StreamEnd {
		delete(c.cl.streams, st.id)
		_, err = c.out.packet(typ, nil, []byte(st.id))
	} else {
		_, err = c.out.packet(typ, done, []byte(st.id), data)
	}
	c.mu.Unlock()
	if err != nil {
		return c.connErr(err)
	}
	if err := c.flush(); err != nil {
		return err
	}
	if done != nil {
		return c.connErr(<-done)
	}
	return nil
}

// stopStream stops the payload of a task that has ended: writers get err,
// and a stream the server knows is aborted (STREAM_ABORT). It may run on
// the read loop, so it only posts.
func (t *Task) stopStream(err error) {
	st := t.st
	if err == nil {
		err = fmt.Errorf("gearman: job %s ended before its payload: %w", t.fn, ErrClosed)
	}
	st.credit.stop(err)
	t.payloadEnded()
	c := t.conn
	c.mu.Lock()
	st.stopped = true
	open := c.cl.streams[st.id] == t
	if open {
		delete(c.cl.streams, st.id)
		_, err = c.out.packet(wire.StreamAbort, nil, []byte(st.id))
	}
	c.mu.Unlock()
	if open && err == nil {
		c.out.signal()
	}
}

// resultRead grants the server result credit as the task's reader consumes
// (or drops) the result.
func (t *Task) resultRead(n int) {
	if d := t.st.result.consumed(n); d > 0 {
		if h := t.Handle(); h != "" {
			t.conn.sendViaWriter(wire.ResultWindow, []byte(h), strconv.AppendInt(nil, d, 10))
		}
	}
}

// payloadRead grants the server payload credit as a worker's handler
// consumes (or drops) the payload.
func (t *Task) payloadRead(n int) {
	if d := t.ws.payload.consumed(n); d > 0 {
		t.conn.sendViaWriter(wire.PayloadWindow, []byte(t.handle), strconv.AppendInt(nil, d, 10))
	}
}

// windowedWrite sends p as WORK_DATA under the result credit.
func (t *Task) windowedWrite(p []byte) (int, error) {
	off := 0
	for off < len(p) {
		k, err := t.ws.credit.take(int64(min(len(p)-off, streamChunk)), false)
		if err != nil {
			return off, err
		}
		if err := t.conn.sendData(wire.WorkData, t.handle, p[off:off+int(k)]); err != nil {
			return off, err
		}
		off += int(k)
	}
	return len(p), nil
}

// onStreamPacket handles the extension's packets from the server.
func (c *Conn) onStreamPacket(p wire.Packet) error {
	id := string(p.Args[0])
	switch p.Type {
	case wire.PayloadWindow:
		d, err := strconv.ParseInt(string(p.Args[1]), 10, 64)
		if err != nil || d <= 0 {
			return unexpectedf(p.Type, "gearman: %s sent PAYLOAD_WINDOW with delta %q", c.addr, p.Args[1])
		}
		c.mu.Lock()
		t := c.cl.streams[id]
		c.mu.Unlock()
		if t != nil {
			t.st.credit.add(d)
		}
	case wire.ResultWindow:
		d, err := strconv.ParseInt(string(p.Args[1]), 10, 64)
		if err != nil || d <= 0 {
			return unexpectedf(p.Type, "gearman: %s sent RESULT_WINDOW with delta %q", c.addr, p.Args[1])
		}
		if t := c.workerStream(id); t != nil {
			t.ws.credit.add(d)
		}
	case wire.StreamData:
		if t := c.workerStream(id); t != nil {
			return t.in.fill(c.rd.r.Data(), c.rd.r.DataLen())
		}
	case wire.StreamEnd:
		if t := c.workerStream(id); t != nil {
			t.in.close(io.EOF)
		}
	case wire.StreamAbort:
		// To a client it names a stream id, to a worker a handle: this
		// package's stream ids are plain numbers, never a handle.
		c.mu.Lock()
		t := c.cl.streams[id]
		c.mu.Unlock()
		if t != nil {
			t.stopStream(fmt.Errorf("gearman: the server dropped the job of task %s: %w", t.fn, ErrJobFailed))
		}
		if t := c.workerStream(id); t != nil {
			t.in.close(errPayloadAborted)
			t.ws.credit.stop(errPayloadAborted)
		}
	default:
		return c.unexpected(p)
	}
	return nil
}

// workerStream returns the running worker task with handle h that was
// assigned with JOB_ASSIGN_STREAM, or nil.
func (c *Conn) workerStream(h string) *Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.streams[h]
}
