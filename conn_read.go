package gearman

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// readLoop reads the connection and routes every packet until it fails; it
// then returns ok false, or a job whose handler is still to run.
//
// A job whose payload came whole is run by the goroutine that read it: it
// returns the job, after handing the reading on to another goroutine (start)
// unless it may leave the connection unread while the handler runs (park).
// So the handler starts at once, with the payload fresh in cache, and any
// hand-off to another goroutine is off the job's path.
func (c *Conn) readLoop() (run handlerRun, ok bool) {
	for {
		if c.r.Buffered() == 0 {
			// About to read from the socket: first send the replies to
			// the packets read so far, in one write.
			c.loopFlush()
			if c.taskEnded {
				// The next Do's or Submit's caller reads: leave it
				// the reading while nothing is expected (see readFor).
				c.taskEnded = false
				if c.parkIdle() {
					return handlerRun{}, true
				}
			}
		}
		p, err := c.r.NextHeader()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.readFailed(err)
			run, c.direct = c.direct, handlerRun{}
			return run, run.t != nil
		}
		if c.direct.t != nil {
			run, c.direct = c.direct, handlerRun{}
			if !c.settleBuffered() {
				return run, true
			}
			c.loopFlush()
			if c.r.Buffered() == 0 && c.park() {
				run.parked = true // nobody reads until the handler returns
			} else {
				c.start(handlerRun{}) // the read loop goes on elsewhere
			}
			return run, true
		}
	}
}

// settleBuffered handles, before a job's handler runs on the read loop's
// goroutine, the packets already buffered whole that need no waiting (see
// handledAtOnce): above all the NO_JOB answers to the connection's other
// grabs, which a server sends with the job that its first grab got. Once
// they are handled the connection may expect nothing more, and the handler
// may run with the reading parked instead of waking another goroutine to
// read. It reports whether the connection is still up. Read loop only.
func (c *Conn) settleBuffered() bool {
	for c.r.Buffered() > 0 && c.handledAtOnce() {
		p, err := c.r.NextHeader()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.readFailed(err)
			return false
		}
	}
	return true
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

// readFailed ends the connection on a read or decoding error met by the
// goroutine that reads, which then reads no more.
func (c *Conn) readFailed(err error) {
	var pe *wire.ProtocolError
	switch {
	case errors.As(err, &pe):
		err = fmt.Errorf("gearman: from %s: %w: %w", c.addr, ErrConnLost, err)
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("gearman: %s closed the connection: %w", c.addr, ErrConnLost)
	default:
		err = fmt.Errorf("gearman: read from %s: %w: %w", c.addr, ErrConnLost, err)
	}
	c.shutdown(err)
	c.loops.Done()
}

// expectsNothing reports whether the connection is up and expects nothing
// from the server: no request awaits its reply, no task its result or its
// stream's packets. c.mu held.
func (c *Conn) expectsNothing() bool {
	return c.err == nil && len(c.pending) == 0 && len(c.routes) == 0 && len(c.streams) == 0 && len(c.wstreams) == 0
}

// parkIdle parks the reading of a connection that expects nothing and serves
// no function (a worker waits for NOOP), where callers may read, and reports
// whether it did: the next Do's or Submit's caller reads, and any other
// request starts a reader (unpark).
// Whoever reads, with nothing left in the buffer.
func (c *Conn) parkIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.callerReads || !c.expectsNothing() || len(c.funcs) > 0 || !alone() {
		return false
	}
	c.parkLocked()
	return true
}

// parkLocked parks the reading (see park). c.mu held.
func (c *Conn) parkLocked() {
	c.parked = true
	c.parks++
	if !c.parkCheckOn {
		// Checks run while parks go on; arming them costs more than a
		// job, so they are not armed per park.
		c.parkCheckOn = true
		c.parksSeen = c.parks
		if c.parkTimer == nil {
			c.parkTimer = time.AfterFunc(c.parkCheck, c.checkPark)
		} else {
			c.parkTimer.Reset(c.parkCheck)
		}
	}
}

// checkPark ends a park that has lasted since the last check, and goes on
// checking while the read loop parks.
func (c *Conn) checkPark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.parked && c.parks == c.parksSeen:
		c.unpark()
		c.parkCheckOn = false
	case c.parked || c.parks != c.parksSeen:
		c.parksSeen = c.parks
		c.parkTimer.Reset(c.parkCheck)
	default:
		c.parkCheckOn = false
	}
}

// unpark hands a parked read loop to another goroutine: the connection now
// expects packets. c.mu held.
func (c *Conn) unpark() {
	if c.parked {
		c.parked = false
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
	if !c.parked {
		return false
	}
	c.parked = false
	c.clearParkedFor()
	return true
}

// dispatch handles one packet. Its arguments alias the reader's buffer.
func (c *Conn) dispatch(p wire.Packet) error {
	if p.Magic != wire.Res {
		return c.unexpected(p)
	}
	switch p.Type {
	case wire.JobCreated:
		return c.onCreated(p)
	case wire.WorkData, wire.WorkComplete:
		return c.onData(p)
	case wire.WorkStatus, wire.WorkFail, wire.WorkWarning, wire.WorkException:
		return c.onUpdate(p)
	case wire.JobAssign, wire.JobAssignUniq, wire.JobAssignAll, wire.JobAssignStream:
		return c.onAssign(p)
	case wire.PayloadWindow, wire.ResultWindow, wire.StreamData, wire.StreamEnd, wire.StreamAbort:
		return c.onStreamPacket(p)
	case wire.NoJob:
		return c.onNoJob()
	case wire.Noop:
		c.onNoop()
		return nil
	case wire.EchoRes, wire.StatusRes, wire.StatusResUnique, wire.OptionRes:
		return c.onReply(p)
	case wire.Error:
		return c.onError(p)
	}
	return c.unexpected(p)
}

func (c *Conn) unexpected(p wire.Packet) error {
	return fmt.Errorf("gearman: %s sent an unexpected %v %v", c.addr, p.Magic, p.Type)
}

// takeRequest removes and returns the oldest pending request that expects a
// reply of type t, or the oldest of all for an ERROR.
func (c *Conn) takeRequest(t wire.Type) *request {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, rq := range c.pending {
		if t == wire.Error || expects(rq.t, t) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return rq
		}
	}
	return nil
}

// expects reports whether a request of type req is answered by a reply of
// type res.
func expects(req, res wire.Type) bool {
	switch res {
	case wire.JobCreated:
		return isSubmit(req)
	case wire.EchoRes:
		return req == wire.EchoReq
	case wire.StatusRes:
		return req == wire.GetStatus
	case wire.StatusResUnique:
		return req == wire.GetStatusUnique
	case wire.OptionRes:
		return req == wire.OptionReq
	case wire.JobAssign, wire.JobAssignUniq, wire.JobAssignAll, wire.JobAssignStream, wire.NoJob:
		return isGrab(req)
	}
	return false
}

func isSubmit(t wire.Type) bool {
	switch t {
	case wire.SubmitJob, wire.SubmitJobBg, wire.SubmitJobHigh, wire.SubmitJobHighBg,
		wire.SubmitJobLow, wire.SubmitJobLowBg, wire.SubmitJobEpoch, wire.SubmitJobSched,
		wire.SubmitReduceJob, wire.SubmitReduceJobBackground, wire.SubmitStream:
		return true
	}
	return false
}

func isGrab(t wire.Type) bool {
	return t == wire.GrabJob || t == wire.GrabJobUniq || t == wire.GrabJobAll
}

func isBackground(t wire.Type) bool {
	switch t {
	case wire.SubmitJobBg, wire.SubmitJobHighBg, wire.SubmitJobLowBg,
		wire.SubmitJobEpoch, wire.SubmitJobSched, wire.SubmitReduceJobBackground:
		return true
	}
	return false
}

func (c *Conn) onCreated(p wire.Packet) error {
	rq := c.takeRequest(wire.JobCreated)
	if rq == nil {
		return fmt.Errorf("gearman: %s sent JOB_CREATED with no submit waiting", c.addr)
	}
	h := string(p.Args[0])
	t := rq.task
	if h == "" {
		t.finish(fmt.Errorf("%w (from %s)", errNoHandle, c.addr))
		return nil
	}
	if isBackground(rq.t) || rq.t == wire.SubmitStream && t.job.Background {
		// Created is closed by finish, after Done: whoever sees the
		// handle sees the task done.
		t.handleMu.Lock()
		t.handle = h
		t.handleMu.Unlock()
		t.finish(nil)
		c.taskEnded = true
		return nil
	}
	// A task abandoned before the server answered still takes its route:
	// see abandon.
	c.mu.Lock()
	if err := c.err; err != nil {
		// The connection ended after the submit left c.pending: shutdown
		// did not see the task.
		c.mu.Unlock()
		t.finish(err)
		return nil
	}
	if rt := c.routes[h]; rt != nil {
		rt.tasks = append(rt.tasks, t)
	} else {
		c.routes[h] = routeTo(t)
	}
	c.mu.Unlock()
	t.setHandle(h)
	return nil
}

// target returns the client task that gets the next packet for handle h, and
// with end set removes it from the routes.
func (c *Conn) target(h []byte, end bool) *Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt := c.routes[string(h)]
	if rt == nil || len(rt.tasks) == 0 {
		return nil
	}
	t := rt.tasks[rt.next]
	if end {
		rt.remove(t)
		if len(rt.tasks) == 0 {
			delete(c.routes, string(h))
		}
	} else {
		rt.next = (rt.next + 1) % len(rt.tasks)
	}
	return t
}

// onData streams a WORK_DATA or WORK_COMPLETE body into its task's result.
func (c *Conn) onData(p wire.Packet) error {
	end := p.Type == wire.WorkComplete
	t := c.target(p.Args[0], end)
	if t == nil {
		return nil // unknown or abandoned: NextHeader skips the data
	}
	t.workerSpoke()
	t.mu.Lock()
	t.lastWarn = nil
	t.mu.Unlock()
	if err := t.in.fill(c.r.Data(), c.r.DataLen()); err != nil {
		return err
	}
	if end {
		t.finish(nil)
		c.taskEnded = true
	}
	return nil
}

// onUpdate handles WORK_STATUS, WORK_WARNING, WORK_FAIL and WORK_EXCEPTION.
func (c *Conn) onUpdate(p wire.Packet) error {
	end := p.Type == wire.WorkFail || p.Type == wire.WorkException
	t := c.target(p.Args[0], end)
	if t == nil {
		return nil
	}
	c.taskEnded = c.taskEnded || end
	switch p.Type {
	case wire.WorkStatus, wire.WorkWarning:
		t.workerSpoke()
	case wire.WorkFail:
		if t.withdrawn() {
			return nil // the watcher ends the task, saying why
		}
	}
	switch p.Type {
	case wire.WorkStatus:
		t.pushStatus(Status{parseNumber(p.Args[1]), parseNumber(p.Args[2])})
	case wire.WorkWarning:
		msg, err := c.readData()
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.lastWarn = msg
		t.mu.Unlock()
		t.pushWarning(msg)
	case wire.WorkException:
		msg, err := c.readData()
		if err != nil {
			return err
		}
		t.finish(&JobException{Handle: t.Handle(), Message: string(msg)})
	case wire.WorkFail:
		t.mu.Lock()
		warn := t.lastWarn
		t.mu.Unlock()
		if warn != nil {
			// A server without exceptions sends them as WORK_WARNING
			// then WORK_FAIL.
			t.finish(&JobException{Handle: t.Handle(), Message: string(warn)})
		} else {
			t.finish(fmt.Errorf("gearman: job %s: %w", t.Handle(), ErrJobFailed))
		}
	}
	return nil
}

// readData reads a pending data argument whole, up to MaxPayload bytes (the
// rest is dropped).
func (c *Conn) readData() ([]byte, error) {
	n := min(c.r.DataLen(), c.opts.MaxPayload)
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r.Data(), b); err != nil {
		return nil, err
	}
	return b, nil
}

// onReply answers a pending echo, status or option request.
func (c *Conn) onReply(p wire.Packet) error {
	rq := c.takeRequest(p.Type)
	if rq == nil {
		return fmt.Errorf("gearman: %s sent %v with no request waiting", c.addr, p.Type)
	}
	args := make([][]byte, len(p.Args), len(p.Args)+1)
	for i, a := range p.Args {
		args[i] = append([]byte(nil), a...)
	}
	if p.Type.HasData() {
		data, err := c.readData()
		if err != nil {
			return err
		}
		args = append(args, data)
	}
	if p.Type == wire.OptionRes {
		c.mu.Lock()
		switch strings.ToLower(string(args[0])) {
		case "exceptions":
			c.exceptions = true
		case "streaming":
			c.streaming = true
		case "stream-chunks":
			c.chunks = true
		}
		c.mu.Unlock()
	}
	rq.reply <- reply{args: args}
	return nil
}

// onError gives an ERROR packet to the request it answers: the oldest one
// waiting. JOB_NOT_FOUND answers a worker's WORK_* packet for a job the
// server no longer gives it (timed out or cancelled): it is only logged.
// STREAM_ERROR answers no request: the server closes the connection after
// it (wire/STREAMING.md), and so does the connection, with it as the cause.
func (c *Conn) onError(p wire.Packet) error {
	se := &ServerError{Code: string(p.Args[0]), Message: string(p.Args[1])}
	switch se.Code {
	case "JOB_NOT_FOUND":
		c.opts.Logger.Warn("gearman: server does not know a job this worker reported on", "server", c.addr, "error", se.Message)
		return nil
	case "STREAM_ERROR":
		return se
	}
	rq := c.takeRequest(wire.Error)
	switch {
	case rq == nil:
		c.opts.Logger.Warn("gearman: server error", "server", c.addr, "code", se.Code, "error", se.Message)
	case rq.task != nil:
		rq.task.finish(&notSubmittedError{fmt.Errorf("gearman: submit %s to %s: %w", rq.task.fn, c.addr, se)})
	case rq.reply != nil:
		rq.reply <- reply{err: se}
	case isGrab(rq.t):
		c.onGrabError(rq.t, se)
	}
	return nil
}
