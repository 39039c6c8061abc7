package gearman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// RegisterOptions are the per-function options of [Conn.Register].
type RegisterOptions struct {
	// Timeout asks the server to give up on a job of this function that runs
	// longer (CAN_DO_TIMEOUT). It is sent in milliseconds, as gearmand reads
	// it; gearmand treats anything under a second as a second. Zero means
	// no limit.
	Timeout time.Duration
	// BufferResult holds everything the handler writes and sends it in one
	// WORK_COMPLETE, instead of WORK_DATA packets as it is written. A server
	// that reruns a job whose worker vanished then never shows its clients
	// the same data twice.
	BufferResult bool
}

type register struct {
	h    Handler
	opts RegisterOptions
}

// workerState is the worker side of a connection: its grab cycle, running
// jobs and registered functions. Guarded by Conn.mu.
type workerState struct {
	grab     wire.Type // GRAB_JOB_UNIQ, or GRAB_JOB for servers without it
	running  int       // jobs whose handlers run
	grabbing int       // grabs awaiting their answer
	dry      bool      // a grab got NO_JOB: grab no more until woken
	sleeping bool      // PRE_SLEEP sent, waiting for NOOP
	grabReq  *request  // the pending-list entry shared by all grabs
	inline   bool      // maybeGrab's caller sends the grab itself (flush, flushNoWait)
	stopped  bool      // StopWork called: grab no more
	idle     chan struct{}

	jobs    map[*Task]struct{}   // worker tasks running
	funcs   map[string]*register // registered functions
	budget  *jobBudget           // a pool's shared job limit, or nil
	streams map[string]*Task     // worker tasks assigned with JOB_ASSIGN_STREAM, by handle
}

// Register registers fn (CAN_DO or CAN_DO_TIMEOUT) and serves its jobs
// with h, at most [Options.MaxJobs] at a time on this connection. It does not
// wait for the server. Registering a name again replaces its handler. An
// invalid name (see [Job.Func]) is refused with a [*NameError], unsent.
func (c *Conn) Register(fn string, h Handler, opts *RegisterOptions) error {
	if err := checkFunctionName("function name", fn); err != nil {
		return err
	}
	var o RegisterOptions
	if opts != nil {
		o = *opts
	}
	var err error
	if o.Timeout > 0 {
		ms := max(o.Timeout.Milliseconds(), 1)
		err = c.send(wire.CanDoTimeout, []byte(fn), strconv.AppendInt(nil, ms, 10))
	} else {
		err = c.send(wire.CanDo, []byte(fn))
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.funcs[fn] = &register{h: h, opts: o}
	c.w.stopped = false
	// The server wakes sleepers only for new jobs; look now.
	c.w.sleeping = false
	c.w.dry = false
	c.maybeGrab()
	return nil
}

// Unregister tells the server this connection no longer serves fn
// (CANT_DO). Jobs of fn already running go on.
func (c *Conn) Unregister(fn string) error {
	if err := checkFunctionName("function name", fn); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.w.funcs, fn)
	c.mu.Unlock()
	return c.send(wire.CantDo, []byte(fn))
}

// ResetAbilities unregisters every function of this connection
// (RESET_ABILITIES). Jobs already running go on.
func (c *Conn) ResetAbilities() error {
	c.mu.Lock()
	clear(c.w.funcs)
	c.mu.Unlock()
	return c.send(wire.ResetAbilities)
}

// StopWork stops taking jobs and waits until the running ones have ended, or
// ctx ends. Functions stay registered; Register resumes.
func (c *Conn) StopWork(ctx context.Context) error {
	c.mu.Lock()
	c.w.stopped = true
	var idle chan struct{}
	if c.w.running > 0 || c.w.grabbing > 0 {
		if c.w.idle == nil {
			c.w.idle = make(chan struct{})
		}
		idle = c.w.idle
	}
	c.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// grabQueued is maybeGrab for a caller that sends the grabs itself: a
// handler's goroutine (flush), or the read loop before it next waits
// (flushNoWait). c.mu held.
func (c *Conn) grabQueued() {
	c.w.inline = true
	c.maybeGrab()
	c.w.inline = false
}

// maybeGrab asks for as many jobs as the connection has free slots: one
// grab per slot, all in flight at once. c.mu held.
func (c *Conn) maybeGrab() {
	w := &c.w
	for !w.stopped && !w.dry && !w.sleeping && len(c.w.funcs) > 0 && c.err == nil && c.haveSlot() {
		var seq uint64
		var err error
		if w.inline {
			seq, err = c.queue(w.grab) // the caller flushes
		} else {
			seq, err = c.sendViaWriter(w.grab)
		}
		if err != nil {
			if c.w.budget != nil {
				go c.w.budget.release(1) // not under c.mu: release kicks connections
			}
			break
		}
		if w.grabReq == nil || w.grabReq.t != w.grab {
			w.grabReq = &request{t: w.grab}
		}
		w.grabbing++
		w.grabReq.sent = seq
		c.pending = append(c.pending, w.grabReq)
		c.unpark()
	}
	c.checkIdle()
}

// checkIdle wakes StopWork when nothing runs. c.mu held.
func (c *Conn) checkIdle() {
	if c.w.idle != nil && c.w.running == 0 && c.w.grabbing == 0 {
		close(c.w.idle)
		c.w.idle = nil
	}
}

func (c *Conn) onNoJob() error {
	if c.takeRequest(wire.NoJob) == nil {
		return unexpectedf(wire.NoJob, "gearman: %s sent NO_JOB with no grab waiting", c.addr)
	}
	defer c.releaseSlot()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.grabbing--
	c.w.dry = true
	if c.w.stopped || len(c.w.funcs) == 0 {
		c.checkIdle()
		return nil
	}
	if c.w.grabbing > 0 || c.w.sleeping {
		return nil // sleep once the other grabs are answered
	}
	if _, err := c.queue(wire.PreSleep); err == nil {
		c.w.sleeping = true
	}
	return nil
}

// onNoop wakes a sleeping worker. A NOOP that comes while a grab is
// unanswered (some servers send them) changes nothing.
func (c *Conn) onNoop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w.sleeping {
		c.w.sleeping = false
		c.w.dry = false
		c.grabQueued()
	}
}

// onGrabError handles a server that refuses a grab: the Perl server does not
// know GRAB_JOB_UNIQ; fall back to GRAB_JOB.
func (c *Conn) onGrabError(t wire.Type, se *ServerError) {
	defer c.releaseSlot()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.grabbing--
	if t != wire.GrabJob {
		c.opts.Logger.Info("gearman: server refused a grab; falling back to GRAB_JOB", "server", c.addr, "packet", t, "error", se)
		c.w.grab = wire.GrabJob
		c.w.dry = false
		c.grabQueued()
		return
	}
	c.opts.Logger.Error("gearman: server refused GRAB_JOB; this connection takes no jobs", "server", c.addr, "error", se)
	c.w.stopped = true
	c.checkIdle()
}

// resultMode is how a worker task's writes go out: held for WORK_COMPLETE
// with buffer, else as WORK_DATA, under the result window on a job
// assigned with JOB_ASSIGN_STREAM.
func resultMode(t *Task, buffer bool) writeMode {
	switch {
	case buffer:
		return writeBuffered
	case t.ws != nil:
		return writeWindowed
	}
	return writeResult
}

// onAssign starts a job: the handler runs in its own goroutine while the
// payload streams into its task.
func (c *Conn) onAssign(p wire.Packet) error {
	if c.takeRequest(p.Type) == nil {
		return unexpectedf(p.Type, "gearman: %s sent %v with no grab waiting", c.addr, p.Type)
	}
	fn := string(p.Args[1])
	t := newTask(c, fn, true)
	t.handle = string(p.Args[0])
	t.isCreated = true // not shared yet
	if p.Type == wire.JobAssignStream {
		t.ws = &wstream{credit: newCredit(wire.StreamWindow)}
		t.in.limit = max(t.in.limit, wire.StreamWindow)
		t.in.onRead = t.payloadRead
	} else if p.Type != wire.JobAssign {
		t.unique = string(p.Args[2])
	}
	if p.Type == wire.JobAssignAll {
		t.reducer = string(p.Args[3])
	}
	c.mu.Lock()
	if err := c.err; err != nil {
		// The connection ended after the grab left c.pending: shutdown
		// would not close this job's payload, and its handler could wait
		// on it forever.
		c.mu.Unlock()
		return err
	}
	c.w.grabbing--
	c.w.dry = false // a grab found work: there may be more
	reg := c.w.funcs[fn]
	if reg != nil {
		c.w.running++
		c.w.jobs[t] = struct{}{}
		if t.ws != nil {
			c.w.streams[t.handle] = t
		}
		t.wmode = resultMode(t, reg.opts.BufferResult)
		t.in.expect = c.rd.r.DataLen() // a size hint for the handler's reads
	}
	c.grabQueued()
	c.mu.Unlock()
	if reg == nil {
		c.releaseSlot()
		c.opts.Logger.Warn("gearman: server assigned a job of a function not registered here", "server", c.addr, "function", fn)
		_, err := c.queue(wire.WorkFail, []byte(t.handle))
		return c.connErr(err)
	}
	// The grab queued above goes out before fill can wait for the handler.
	c.flushNoWait()
	// A payload that fits in the task's buffer is read before the handler
	// starts, which then never waits for it; so is any payload of a
	// BytesHandler, which reads it whole anyway. A larger one streams to
	// the running handler.
	whole := t.ws == nil && c.rd.r.DataLen() <= int64(c.opts.TaskBuffer)
	if _, ok := reg.h.(bytesHandler); ok && t.ws == nil && c.rd.r.DataLen() <= c.opts.MaxPayload {
		whole = true
		t.in.limit = max(t.in.limit, int(c.rd.r.DataLen()))
	}
	if !whole {
		c.startHandler(reg.h, t)
	}
	err := t.in.fill(c.rd.r.Data(), c.rd.r.DataLen())
	switch {
	case err != nil:
		t.in.close(err)
	case t.ws == nil: // else STREAM_DATA and STREAM_END follow
		t.in.close(io.EOF)
	}
	if whole {
		// The read loop's goroutine runs this handler itself, at once,
		// and hands the reading on ([Conn.readLoop]).
		c.rd.direct = handlerRun{h: reg.h, t: t}
	}
	return err
}

// startHandler runs a job's handler on another goroutine (the read loop
// goes on reading its payload into it).
func (c *Conn) startHandler(h Handler, t *Task) {
	c.start(handlerRun{h: h, t: t})
}

// runHandler runs one job's handler and ends the job by what it returns. For
// a handler the read loop waits for, it reports whether the caller is to go
// on reading ([Conn.resume]).
func (c *Conn) runHandler(run handlerRun) (read bool) {
	h, t := run.h, run.t
	defer func() { c.jobEnded(t, read) }()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				c.opts.Logger.Error("gearman: handler panicked", "function", t.fn, "handle", t.handle, "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("gearman: handler of %s panicked: %v", t.fn, r)
			}
		}()
		if _, ok := h.(bytesHandler); ok {
			// Its Work ends the job and returns: jobEnded writes
			// WORK_COMPLETE and the next grab together.
			t.mu.Lock()
			t.flushLater = true
			t.mu.Unlock()
		}
		return h.Work(c.baseCtx, t)
	}()
	t.in.setDiscard()
	t.mu.Lock()
	closed := t.wclosed
	t.flushLater = true // the job ends here, and jobEnded follows
	t.mu.Unlock()
	switch {
	case closed && err != nil:
		c.opts.Logger.Warn("gearman: handler returned an error after ending its job", "function", t.fn, "handle", t.handle, "error", err)
	case !closed:
		if err := t.CloseWithError(err); err != nil && !errors.Is(err, ErrClosed) {
			c.opts.Logger.Warn("gearman: could not end job", "function", t.fn, "handle", t.handle, "error", err)
		}
	}
	// The job's end is queued; what it waited for (room in the queue, a
	// large result written) it waited for while parked. Take the reading
	// back before jobEnded asks for the next job, which needs a reader.
	return run.parked && c.resume()
}

// jobEnded frees a job's slot and asks for the next job. With inLoop, the
// caller goes on to run the read loop, which never waits on the socket: what
// it queued is written as flushNoWait does.
func (c *Conn) jobEnded(t *Task, inLoop bool) {
	c.mu.Lock()
	delete(c.w.jobs, t)
	if t.ws != nil {
		delete(c.w.streams, t.handle)
	}
	c.w.running--
	c.mu.Unlock()
	c.releaseSlot()
	// The handler's goroutine may write: the next grab goes out from here,
	// without a hand-off to the writer goroutine.
	c.mu.Lock()
	c.grabQueued()
	c.mu.Unlock()
	if inLoop {
		c.flushNoWait()
	} else {
		c.flush()
	}
}

// endJob sends the packet that ends a worker's job. Without flush it is only
// queued: the handler's goroutine is ending the job as it finishes, and
// jobEnded follows at once and writes it with the next grab.
func (c *Conn) endJob(t *Task, buffered []byte, cause error, flush bool) error {
	if err := c.queueJobEnd(t, buffered, cause); err != nil || !flush {
		return err
	}
	return c.flush()
}

// queueJobEnd queues the packets that end a worker's job, as queueData does.
func (c *Conn) queueJobEnd(t *Task, buffered []byte, cause error) error {
	h := t.Handle()
	if cause != nil && len(buffered) > 0 {
		// A failure is final: what the handler wrote goes out first, as
		// the C worker does.
		if err := t.sendWorkData(buffered); err != nil {
			return err
		}
	}
	switch {
	case cause == nil && t.ws != nil:
		// The result window covers WORK_COMPLETE's data too.
		if _, err := t.windowedWrite(buffered); err != nil {
			return err
		}
		return c.queueData(wire.WorkComplete, h, nil)
	case cause == nil:
		return c.queueData(wire.WorkComplete, h, buffered)
	case errors.Is(cause, ErrJobFailed):
		return c.queueData(wire.WorkFail, h, nil)
	case c.opts.SendExceptions && c.Exceptions():
		return c.queueData(wire.WorkException, h, []byte(cause.Error()))
	}
	if err := c.queueData(wire.WorkWarning, h, []byte(cause.Error())); err != nil {
		return err
	}
	return c.queueData(wire.WorkFail, h, nil)
}
