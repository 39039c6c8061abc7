package gearman

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file is who reads a connection's socket. The contract:
//
//   - At any time one goroutine holds the reading, or nobody does and it is
//     parked. Only the holder touches rd.r, rd.src, rd.direct and
//     rd.taskEnded, and runs dispatch.
//   - The reading changes hands only under Conn.mu: to a reader goroutine
//     by start (serve runs the read loop), to nobody by park, parkIdle and
//     releaseReading, and back from nobody by resume (the handler that
//     parked it), takeParked (a Do or Submit caller) and takeReadingFor
//     (Result).
//   - While it is parked, whoever comes to expect a packet starts a reader
//     (unpark: every request queued, a task waited for otherwise than by
//     Result), and a park that lasts from one check to the next ends
//     (checkPark), so that a lost connection is always seen.
//   - A caller holds it only where callersMayRead says so, reads only whole
//     packets that callerHandles lets it handle on its own goroutine, and
//     hands it on at a packet's boundary.
//
// The mechanism: the reading passes between the read loop's goroutine
// ([Conn.serve]), a handler's while it runs with the reading parked
// ([Conn.park]), and the callers of Do, Submit and Result. A connection
// that serves such calls one at a time needs no other goroutine at all:
// when the read loop has delivered a client task's result and nothing more
// is expected, it parks the reading ([Conn.parkIdle]); the next Do or
// Submit, finding it parked as it submits ([Conn.takeParked]), takes it and
// reads its own reply ([Conn.readFor]). Its wait then costs no hand-off
// between goroutines: the network wakes the goroutine that waits. Submit
// reads until the job is created, then leaves the reading parked for the
// task ([reading.parkedFor]) when only its result is expected: Result takes
// it back and reads; any other way of waiting for the task (Done, Read,
// Status...) starts a reader ([Task.needReader]), as does any other request
// made while the reading is parked ([Conn.unpark]).
//
// What this gives the users of a Conn: one small job at a time, served or
// submitted, wakes no goroutine but the one that waits; a park ends within
// two checks, 20 to 40 milliseconds ([parkCheck]), so a handler that runs
// longer, or an idle connection, still sees the server go away and cancels
// the handlers' contexts; a caller that takes the reading first handles
// what came meanwhile ([Conn.pollPending]), so a submit on a connection the
// server has closed fails unsent, safe to retry. A connection that is not a
// plain socket, refuses read deadlines, or is TLS, is read by its own
// goroutines only ([Conn.callersMayRead]), and parked only while a handler
// runs.

// callerReads switches the callers' reading (readFor) on. Off, a
// connection is read by its own goroutines only (and parked only while a
// handler runs), as one that is not a socket always is: the alternating
// pairs of BENCHMARKS.md decide which is faster.
const callerReads = true

// callersMayRead reports whether a caller of Do, Submit or Result may take
// the reading of c: the switch is on, c's socket takes non-blocking reads
// and read deadlines, and the caller waits alone in the process (see
// waiting).
func (c *Conn) callersMayRead() bool { return callerReads && c.rd.pollable && alone() }

// waiting counts the calls of Do, Submit and Result under way in the
// process. Callers read for themselves only while one is alone in waiting:
// with many waiting (a busy server fanning out jobs), each connection's read
// loop serving its waiters costs less CPU in all than each waiter reading
// for itself (measured through gearmand: 18% more jobs/s at 16 concurrent
// Do callers, where reading for itself gives a lone caller 4-9% more), as
// the Go scheduler then keeps its threads busy instead of putting them to
// sleep and waking them for every packet.
var waiting atomic.Int32

// alone reports whether the caller of Do, Submit or Result that asks, or
// whose task's end the read loop has just delivered, waits alone.
func alone() bool { return waiting.Load() <= 1 }

// reading is who reads a connection's socket, and the goroutines that
// take turns at it.
type reading struct {
	// The goroutine that holds the reading only.
	r         *wire.Reader
	src       connReader // what r reads
	direct    handlerRun // read loop only: a job its goroutine runs next
	taskEnded bool       // read loop only: its last packet ended a client task
	unknowns  int        // packets of unknown types skipped so far (trace.go)

	// The goroutines that run the read loop and handlers (serve).
	goroutines sync.WaitGroup
	spare      chan handlerRun // to a goroutine waiting for work
	spares     atomic.Int32    // goroutines waiting for work

	// Guarded by Conn.mu: the read loop's park ([Conn.park]) and the
	// caller that reads instead ([Conn.readFor]).
	parked      bool          // nobody reads (a handler runs, or the connection is idle)
	caller      *Task         // the task whose Do, Submit or Result caller reads the connection
	parkedFor   *Task         // parked for this task's result, which its waiter reads
	interrupted bool          // the caller's context ended: a read deadline in the past wakes it
	parks       uint64        // parks so far
	parksSeen   uint64        // parks at the last check
	parkCheckOn bool          // parkTimer is armed
	parkTimer   *time.Timer   // runs checkPark
	parkCheck   time.Duration // how often: parkCheck when the connection started
	pollable    bool          // nc takes read deadlines and non-blocking reads: callers may read
}

// readFor reads the connection on the goroutine of Do, Submit or Result,
// which holds the reading, until t has ended (or, with created, until the
// server has created it); it then leaves the reading parked if nothing more
// is expected (or only t's result, for Result to read), or hands it to a
// reader goroutine. It reads only whole packets that fit the read buffer and
// that it can handle without waiting ([Conn.handledAtOnce]): any other packet,
// or the end of ctx (which interrupts a read with a deadline in the past),
// hands the reading on at a packet's boundary, so the stream stays intact
// for the next reader.
func (c *Conn) readFor(ctx context.Context, t *Task, created bool) {
	t.reads = false
	c.mu.Lock()
	c.rd.caller = t
	c.mu.Unlock()
	var stop func() bool
	if done := ctx.Done(); done != nil && done != t.ctxDone {
		// The task's own context already interrupts: see [Conn.open].
		stop = context.AfterFunc(ctx, func() { c.interruptReader(t) })
	}
	handOn := c.readUntilDone(t, created)
	if stop != nil {
		stop()
	}
	if handOn {
		c.releaseReading(t, created)
	}
}

// interruptReader wakes the caller reading for t, if one is, with a read
// deadline in the past: readUntilDone then hands the reading on.
func (c *Conn) interruptReader(t *Task) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rd.caller == t {
		c.rd.interrupted = true
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// handOn gives the reading, which the caller holds, to a reader goroutine.
func (c *Conn) handOn() {
	c.mu.Lock()
	c.start(handlerRun{})
	c.mu.Unlock()
}

// takeParked takes the reading for the calling goroutine if nobody reads,
// after handling what came meanwhile ([Conn.pollPending]), and reports whether
// it holds it.
func (c *Conn) takeParked() bool {
	if !c.callersMayRead() {
		return false // a reader starts (unpark)
	}
	c.mu.Lock()
	if !c.rd.parked {
		c.mu.Unlock()
		return false
	}
	c.rd.parked = false
	c.clearParkedFor()
	c.mu.Unlock()
	return c.pollPending()
}

// pollPending handles, without waiting for more, what the server sent while
// nobody read, for a caller that has just taken the reading: whole packets,
// and above all the end of the connection, which so ends before the caller
// sends on it (a submit then fails unsent, safe to retry elsewhere). It
// reports whether the caller still holds the reading: not after the end, nor
// after handing it on for a packet it does not take ([Conn.handledAtOnce]).
func (c *Conn) pollPending() bool {
	for {
		c.rd.src.nonblock = true // only around the read: see connReader
		whole, err := c.rd.r.Buffer()
		c.rd.src.nonblock = false
		switch {
		case errors.Is(err, nonblock.ErrWouldBlock):
			return true
		case err != nil:
			c.readFailed(err)
			return false
		case !whole || !c.handledAtOnce():
			c.handOn()
			return false
		}
		if !c.dispatchBuffered() {
			return false
		}
	}
}

// dispatchBuffered handles the next packet, which is buffered whole, for a
// caller that holds the reading, and reports whether the connection is
// still up.
func (c *Conn) dispatchBuffered() bool {
	p, err := c.rd.r.NextHeader()
	if err == nil {
		err = c.dispatch(p)
	}
	c.rd.taskEnded = false
	if run := c.rd.direct; run.t != nil {
		c.rd.direct = handlerRun{}
		c.start(run)
	}
	if err != nil {
		c.readFailed(err)
		return false
	}
	return true
}

// plainSocket reports whether nc is a socket as the net package makes it,
// which the connection may read and write through its raw file descriptor
// (internal/nonblock): not a wrapper, even one embedding
// a *net.TCPConn, whose Read or Write may do more than the socket's.
func plainSocket(nc net.Conn) bool {
	return socketType(nc) || anySocketForTest.Load()
}

// socketType is plainSocket without the tests' exception: a connection
// whose waiting reads and writes, too, go through the raw file descriptor.
func socketType(nc net.Conn) bool { return nonblock.Plain(nc) }

// anySocketForTest makes plainSocket accept any net.Conn whose raw socket
// it can reach, for the reads and writes that must not wait; the others go
// through the wrapper, which tests use to count them or make them fail.
var anySocketForTest atomic.Bool

// connReader is what a connection's wire.Reader reads: the socket, with a
// read that waits, or while nonblock is set, one that does not. Only the
// goroutine that holds the reading touches it.
type connReader struct {
	nc       net.Conn
	try      *nonblock.Reader // nil when nc is not a socket
	raw      bool             // reads that wait go through try too ([socketType])
	nonblock bool
}

func (r *connReader) Read(p []byte) (int, error) {
	switch {
	case r.nonblock:
		return r.try.TryRead(p)
	case r.raw:
		return r.try.Read(p)
	}
	return r.nc.Read(p)
}

// aLongTimeAgo is a read deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// readUntilDone is readFor's loop. It reports whether the caller still
// holds the reading, to hand on; false after a read error, which ends the
// connection.
func (c *Conn) readUntilDone(t *Task, created bool) bool {
	for {
		select {
		case <-t.done:
			return true
		default:
		}
		if created && c.rd.r.Buffered() == 0 && t.Handle() != "" {
			return true // created, and nothing more has come yet
		}
		if c.rd.r.Buffered() == 0 {
			c.flushNoWait()
		}
		whole, err := c.rd.r.Buffer()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.wasInterrupted() {
				return true
			}
			c.readFailed(err)
			return false
		}
		if !whole || !c.handledAtOnce() {
			return true
		}
		if !c.dispatchBuffered() {
			c.mu.Lock()
			c.rd.caller = nil
			c.mu.Unlock()
			return false
		}
	}
}

// handledAtOnce reports whether the next packet, buffered whole, is handled
// without waiting ([callerHandles]): not when it brings data to a task
// whose buffer is full (its reader holds back the connection's reading, and
// so would hold the caller, whose context could then not free it), nor a job
// or stream packet for the worker side or a streaming task, which a reader
// goroutine handles.
func (c *Conn) handledAtOnce() bool {
	p, n, ok := c.rd.r.Peek()
	if !ok || p.Magic != wire.Res || p.Type > wire.MaxExtType {
		return false
	}
	switch callerHandles[p.Type] {
	case atOnce:
		return true
	case ifRoom:
		var buf [4]*Task
		tasks := buf[:0]
		c.mu.Lock()
		if rt := c.cl.routes[string(p.Args[0])]; rt != nil {
			tasks = append(tasks, rt.tasks...)
		}
		c.mu.Unlock()
		for _, t := range tasks {
			if !t.in.takes(n) {
				return false
			}
		}
		return true
	}
	return false
}

// handling says which goroutine may handle a packet type from the server.
type handling uint8

const (
	unlisted handling = iota // a type the server does not send: a reader meets it
	atOnce                   // any goroutine that holds the reading, at once
	ifRoom                   // data for client tasks: at once if their buffers take it
	byReader                 // only a reader goroutine: jobs and stream packets
)

// callerHandles lists every packet type a server sends (wire's ToClient
// types), with the goroutines that may handle it. A type left out is
// handled by a reader goroutine only, the safe default, and fails
// TestCallerHandlesEveryType.
var callerHandles = [wire.MaxExtType + 1]handling{
	wire.Noop:            atOnce,
	wire.JobCreated:      atOnce,
	wire.NoJob:           atOnce,
	wire.WorkStatus:      atOnce,
	wire.WorkFail:        atOnce,
	wire.WorkWarning:     atOnce,
	wire.WorkException:   atOnce,
	wire.EchoRes:         atOnce,
	wire.Error:           atOnce,
	wire.StatusRes:       atOnce,
	wire.StatusResUnique: atOnce,
	wire.OptionRes:       atOnce,
	wire.WorkData:        ifRoom,
	wire.WorkComplete:    ifRoom,
	wire.JobAssign:       byReader,
	wire.JobAssignUniq:   byReader,
	wire.JobAssignAll:    byReader,
	wire.JobAssignStream: byReader,
	wire.PayloadWindow:   byReader,
	wire.ResultWindow:    byReader,
	wire.StreamData:      byReader,
	wire.StreamEnd:       byReader,
	wire.StreamAbort:     byReader,
}

// wasInterrupted reports whether the reading caller's context ended.
func (c *Conn) wasInterrupted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rd.interrupted
}

// releaseReading ends the reading of t's caller: it parks the reading when
// the connection expects nothing, or, after Submit's (created), only t's
// result (for Result to read: [reading.parkedFor]), else hands it to a reader
// goroutine. A caller whose context ended never parks it for t: whoever
// else waits for t (Done, Err) needs a reader.
func (c *Conn) releaseReading(t *Task, created bool) {
	h := t.Handle()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd.caller = nil
	interrupted := c.rd.interrupted
	if interrupted {
		c.rd.interrupted = false
		c.nc.SetReadDeadline(time.Time{})
	}
	if c.rd.r.Buffered() == 0 && len(c.w.funcs) == 0 && c.callersMayRead() {
		if c.expectsNothing() {
			c.parkLocked()
			return
		}
		if created && !interrupted && h != "" && c.onlyExpects(h) {
			c.parkLocked()
			c.rd.parkedFor = t
			t.readParked.Store(true)
			return
		}
	}
	c.start(handlerRun{})
}

// onlyExpects reports whether the connection expects nothing but the
// result of the job with handle h, for one task. c.mu held.
func (c *Conn) onlyExpects(h string) bool {
	rt := c.cl.routes[h]
	return c.err == nil && len(c.pending) == 0 && len(c.cl.routes) == 1 && rt != nil && len(rt.tasks) == 1 &&
		len(c.cl.streams) == 0 && len(c.w.streams) == 0
}

// clearParkedFor forgets the task the reading was parked for. c.mu held.
func (c *Conn) clearParkedFor() {
	if c.rd.parkedFor != nil {
		c.rd.parkedFor.readParked.Store(false)
		c.rd.parkedFor = nil
	}
}

// takeReadingFor takes the reading parked for t, for its Result, and
// reports whether it did.
func (c *Conn) takeReadingFor(t *Task) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rd.parked || c.rd.parkedFor != t {
		return false
	}
	c.rd.parked = false
	c.clearParkedFor()
	return true
}

// unparkFor starts a reader when the reading is parked for t.
func (c *Conn) unparkFor(t *Task) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rd.parkedFor == t {
		c.unpark()
	}
}

// expectsNothing reports whether the connection is up and expects nothing
// from the server: no request awaits its reply, no task its result or its
// stream's packets. c.mu held.
func (c *Conn) expectsNothing() bool {
	return c.err == nil && len(c.pending) == 0 && len(c.cl.routes) == 0 && len(c.cl.streams) == 0 && len(c.w.streams) == 0
}

// parkCheck is how often a connection whose read loop parks checks for a
// park that has lasted: one lasting from one check to the next ends. Each
// connection reads it once, when it starts.
var parkCheck = 20 * time.Millisecond

// park lets the read loop's goroutine run a job's handler without handing
// the reading on first, and reports whether it may. Nobody reads while the
// handler runs, which saves waking another goroutine for every job; so it
// may only when the connection expects nothing from the server (no request
// awaits its reply, no client task its result) and has read nothing more.
// Whoever comes to expect something meanwhile starts a reader (unpark), as
// does a check when the handler runs longer than c.parkCheck, so that a lost
// connection still cancels a long handler's context. Read loop only.
func (c *Conn) park() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.expectsNothing() {
		return false
	}
	c.parkLocked()
	return true
}

// parkIdle parks the reading of a connection that expects nothing and serves
// no function (a worker waits for NOOP), where callers may read, and reports
// whether it did: the next Do's or Submit's caller reads, and any other
// request starts a reader (unpark).
// Whoever reads, with nothing left in the buffer.
func (c *Conn) parkIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.callersMayRead() || !c.expectsNothing() || len(c.w.funcs) > 0 {
		return false
	}
	c.parkLocked()
	return true
}

// parkLocked is [Conn.park] with c.mu held.
func (c *Conn) parkLocked() {
	c.rd.parked = true
	c.rd.parks++
	if !c.rd.parkCheckOn {
		// Checks run while parks go on; arming them costs more than a
		// job, so they are not armed per park.
		c.rd.parkCheckOn = true
		c.rd.parksSeen = c.rd.parks
		if c.rd.parkTimer == nil {
			c.rd.parkTimer = time.AfterFunc(c.rd.parkCheck, c.checkPark)
		} else {
			c.rd.parkTimer.Reset(c.rd.parkCheck)
		}
	}
}

// checkPark ends a park that has lasted since the last check, and goes on
// checking while the read loop parks.
func (c *Conn) checkPark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.rd.parked && c.rd.parks == c.rd.parksSeen:
		c.unpark()
		c.rd.parkCheckOn = false
	case c.rd.parked || c.rd.parks != c.rd.parksSeen:
		c.rd.parksSeen = c.rd.parks
		c.rd.parkTimer.Reset(c.rd.parkCheck)
	default:
		c.rd.parkCheckOn = false
	}
}

// unpark hands a parked read loop to another goroutine: the connection now
// expects packets. c.mu held.
func (c *Conn) unpark() {
	if c.rd.parked {
		c.rd.parked = false
		c.clearParkedFor()
		// The parked loop has not ended, so Close is not yet waiting
		// on c.handlers: see start.
		c.start(handlerRun{})
	}
}

// resume takes the reading back for the goroutine that parked it, once its
// handler has returned, and reports whether it has it (or another goroutine
// reads by now).
func (c *Conn) resume() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rd.parked {
		return false
	}
	c.rd.parked = false
	c.clearParkedFor()
	return true
}
