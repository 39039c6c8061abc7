package gearman

import (
	"context"
	"fmt"

	"github.com/seed749d6d6d/gearman/wire"
)

// Submit submits job with job.Data as its payload and waits until the server
// has created it. The returned task's reader (or Result) gives the result; a
// background job has none, and its task is done at once, with the handle
// set. ctx governs the task: when it ends, the task is abandoned.
//
// The submit packet is written from the caller's goroutine when no other
// write is under way on the connection (saving a hand-off to the writer
// goroutine); like any socket write, that waits while the server is not
// reading. job.Data of 64 KiB or more is written from the caller's memory:
// do not modify it until the task is done.
func (c *Conn) Submit(ctx context.Context, job Job) (*Task, error) {
	waiting.Add(1)
	defer waiting.Add(-1)
	t, err := c.sendJob(ctx, job, submitWaits)
	if err != nil {
		return nil, err
	}
	if t.reads {
		c.readFor(ctx, t, true)
	}
	select {
	case <-t.Created():
	case <-ctx.Done():
	}
	if h := t.Handle(); h == "" {
		<-t.done
		return nil, t.err
	}
	return t, nil
}

// Do runs job and returns its result: what Submit then [Task.Result] return,
// with one wait instead of two, since Do does not wait for the job handle
// on its own. A background job returns a nil result once the server has
// created it. When ctx ends, the job is abandoned and ctx's error returned.
// An error of a submit the server refused, or never got, satisfies
// [SafeToRetry], as Submit's does.
func (c *Conn) Do(ctx context.Context, job Job) ([]byte, error) {
	if job.timed() {
		return c.doTimed(ctx, job)
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	t, err := c.sendJob(ctx, job, doWaits)
	if err != nil {
		return nil, err
	}
	if t.st != nil {
		return t.Result(ctx) // a streamed job: see [Conn.open]
	}
	if t.reads {
		c.readFor(ctx, t, false)
	}
	// Do's own wait watches ctx: no watch to set up and stop per job.
	select {
	case <-t.done:
	case <-ctx.Done():
		c.abandon(t, ctx.Err()) // does nothing if the job has just ended
		<-t.done
	}
	data, err := t.in.readAllCtx(ctx, false) // the pipe has ended: no wait
	if t.err != nil {
		if t.err == ctx.Err() {
			return nil, t.err
		}
		return data, t.err
	}
	return data, err
}

// waiter says who waits for a task that open makes.
type waiter int

const (
	openWaits   waiter = iota // Open: the caller writes, then reads or waits as it likes
	submitWaits               // Submit: the caller waits for the handle
	doWaits                   // Do: the caller waits for the whole result
)

// sendJob opens a task for job, whose payload is job.Data, and submits it at
// once: Submit and Do without their waits. For Do, see open.
func (c *Conn) sendJob(ctx context.Context, job Job, w waiter) (*Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, unsent(err)
	}
	t, err := c.open(ctx, job, w)
	if err != nil {
		return nil, err
	}
	if err := t.Close(); err != nil {
		return nil, err
	}
	return t, nil
}

// Open starts a task whose payload the caller writes; Close sends it (see
// [Task]). job.Data, if any, is the start of the payload, held without a
// copy: do not modify it until the task is done. ctx governs the task: when
// it ends, the task is abandoned. A background job whose payload streams
// (see [Options.Streaming]) is done once the server has created it, after
// its first chunk, but ctx governs its payload until Close: when ctx ends
// first, Write and Close return its error, and the server drops the job.
func (c *Conn) Open(ctx context.Context, job Job) (*Task, error) {
	return c.open(ctx, job, openWaits)
}

// open is Open. With doWaits, the caller (Do) waits for the whole result
// and watches ctx itself, so the task gets no watch of its own and collects
// its result whole without a reader; except a task whose payload streams
// (its result may stream under a window that only a reader opens), which is
// opened as by Open, as it is for Submit. Do's and Submit's callers may read
// the connection themselves ([Conn.readFor]).
func (c *Conn) open(ctx context.Context, job Job, w waiter) (*Task, error) {
	if _, err := job.packetType(); err != nil {
		return nil, unsent(err)
	}
	if err := c.Err(); err != nil {
		return nil, unsent(err)
	}
	noticed := false
	if job.RunTimeout > 0 {
		// Before the submit: the server must know to tell when the job
		// starts by the time a worker takes it.
		var err error
		if noticed, err = c.startsNoticed(ctx); err != nil {
			return nil, unsent(err)
		}
	}
	t := newTask(c, job.Func, false)
	t.unique = job.Unique
	t.job = job
	if job.timed() {
		c.timeTask(t, noticed)
	}
	t.sizeLeft = job.Size
	streamable := c.streamable(&job)
	awaited := w == doWaits
	t.submitted = w == submitWaits && !streamable
	if awaited && !streamable {
		// Nobody reads until the end. Set before beginSized, which sends
		// the whole submit: the result may come before it returns.
		t.in.wantAll = true
		t.awaited = true
	}
	switch {
	case job.Size > 0 && !streamable:
		if err := c.beginSized(t, job); err != nil {
			return nil, err
		}
	case streamable:
		c.startStream(t)
		t.wmode = writeStream
		t.job.Data = nil
		t.sizeLeft -= int64(len(job.Data))
		if _, err := t.streamWrite(job.Data); err != nil {
			return nil, err
		}
	default:
		t.wmode = writeHeld
		t.job.Data = nil
		t.payload.start(job.Data)
	}
	if awaited && !streamable {
		return t, nil // see wantAll above
	}
	if t.ctxDone = ctx.Done(); t.ctxDone != nil {
		stop := context.AfterFunc(ctx, func() { c.dropTask(t, ctx.Err()) })
		t.handleMu.Lock()
		t.stopWatch = stop
		t.handleMu.Unlock()
	}
	if t.timing != nil {
		go c.watchTimeouts(t)
	}
	return t, nil
}

// beginSized sends the header of a task's submit packet whose payload,
// job.Size bytes, follows as the task is written, then what job.Data holds.
func (c *Conn) beginSized(t *Task, job Job) error {
	pt, _ := job.packetType()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return unsent(c.err)
	}
	seq, err := c.out.beginBody(pt, job.leadingArgs(pt), job.Size)
	if err != nil {
		c.mu.Unlock()
		return unsent(err)
	}
	t.req = request{t: pt, task: t, sent: seq}
	c.pending = append(c.pending, &t.req)
	c.unpark()
	c.mu.Unlock()
	t.wmode = writeSized
	t.job.Data = nil
	t.sizeLeft = job.Size
	if len(job.Data) > 0 {
		if _, err := t.Write(job.Data); err != nil {
			return err
		}
	}
	return c.flush()
}

// sendBody sends part of a declared-size payload; last ends its packet.
// Large parts are written from p, so sendBody waits until they are.
func (c *Conn) sendBody(p []byte, last bool) error {
	c.out.waitRoom()
	var done chan error
	if len(p) >= wire.LargeData {
		done = make(chan error, 1)
	}
	if err := c.out.bodyData(p, done); err != nil {
		return c.connErr(err)
	}
	if last {
		c.out.endBody()
	}
	if err := c.flush(); err != nil {
		return err
	}
	if done != nil {
		return c.connErr(<-done)
	}
	return nil
}

// submitTask sends a client task's submit packet, whose payload is chunks.
func (c *Conn) submitTask(t *Task, job Job, chunks [][]byte) error {
	select {
	case <-t.done: // abandoned before Close: submit nothing
		return unsent(t.err)
	default:
	}
	pt, _ := job.packetType()
	t.req = request{t: pt, task: t}
	if t.awaited || t.submitted {
		// Nobody may be reading: then the caller, about to wait, reads
		// instead of having a reader start and wake it ([Conn.readFor]).
		t.reads = c.takeParked()
	}
	err := c.enqueueChunks(&t.req, job.leadingArgs(pt), chunks)
	if err != nil {
		err = &notSubmittedError{err}
		t.finish(err)
	} else {
		err = c.flush()
	}
	if err != nil && t.reads {
		// The caller will not read: a reader meets the end, and ends
		// the read loop (Close waits for it).
		t.reads = false
		c.handOn()
	}
	if err != nil {
		return t.sendFailed(err)
	}
	return nil
}

// abandon drops a client task whose context ended. The task stays in its
// route, as a sink for its copy of each packet, until the job's last packet:
// the server sends a packet once for each task on a shared handle, and a live
// task must not get an abandoned one's copy too.
func (c *Conn) abandon(t *Task, err error) {
	t.abandon(err)
}

// clientState is the client side of a connection: its tasks by handle and,
// while their payload streams, by stream id. Guarded by Conn.mu.
type clientState struct {
	routes     map[string]*route // client tasks by handle
	streams    map[string]*Task  // client tasks by stream id, while their payload streams
	nextStream uint64            // the last stream id used
}

// route lists the client tasks waiting on one handle. A connection that
// submitted the same unique id twice has two tasks on one handle, and the
// server sends each packet once for each: they go to the tasks in turn.
type route struct {
	tasks []*Task
	next  int
	first [1]*Task // tasks' first backing array: one task is the rule
}

// routeTo returns a route to t, which t holds.
func routeTo(t *Task) *route {
	rt := &t.rt
	rt.first[0] = t
	rt.tasks = rt.first[:]
	return rt
}

func (rt *route) remove(t *Task) {
	for i, x := range rt.tasks {
		if x == t {
			rt.tasks = append(rt.tasks[:i], rt.tasks[i+1:]...)
			if rt.next > i {
				rt.next--
			}
			break
		}
	}
	if rt.next >= len(rt.tasks) {
		rt.next = 0
	}
}

func (c *Conn) onCreated(p wire.Packet) error {
	rq := c.takeRequest(wire.JobCreated)
	if rq == nil {
		return unexpectedf(wire.JobCreated, "gearman: %s sent JOB_CREATED with no submit waiting", c.addr)
	}
	h := string(p.Args[0])
	t := rq.task
	if h == "" {
		t.finish(fmt.Errorf("%w (from %s)", errNoHandle, c.addr))
		return nil
	}
	if rq.t.Background() || rq.t == wire.SubmitStream && t.job.Background {
		// Created is closed by finish, after Done: whoever sees the
		// handle sees the task done.
		t.handleMu.Lock()
		t.handle = h
		t.handleMu.Unlock()
		t.finish(nil)
		c.rd.taskEnded = true
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
	if rt := c.cl.routes[h]; rt != nil {
		rt.tasks = append(rt.tasks, t)
	} else {
		c.cl.routes[h] = routeTo(t)
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
	rt := c.cl.routes[string(h)]
	if rt == nil || len(rt.tasks) == 0 {
		return nil
	}
	t := rt.tasks[rt.next]
	if end {
		rt.remove(t)
		if len(rt.tasks) == 0 {
			delete(c.cl.routes, string(h))
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
	if err := t.in.fill(c.rd.r.Data(), c.rd.r.DataLen()); err != nil {
		return err
	}
	if end {
		t.finish(nil)
		c.rd.taskEnded = true
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
	c.rd.taskEnded = c.rd.taskEnded || end
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

// JobStatus asks the server about the job with the given handle
// (GET_STATUS).
func (c *Conn) JobStatus(ctx context.Context, handle string) (JobStatus, error) {
	a, err := c.call(ctx, wire.GetStatus, []byte(handle))
	if err != nil {
		return JobStatus{}, err
	}
	return JobStatus{
		Handle:  string(a[0]),
		Known:   string(a[1]) == "1",
		Running: string(a[2]) == "1",
		Status:  Status{parseNumber(a[3]), parseNumber(a[4])},
	}, nil
}

// UniqueStatus asks the server about the job with the given unique id
// (GET_STATUS_UNIQUE), whatever its function.
func (c *Conn) UniqueStatus(ctx context.Context, unique string) (JobStatus, error) {
	a, err := c.call(ctx, wire.GetStatusUnique, []byte(unique))
	if err != nil {
		return JobStatus{}, err
	}
	return JobStatus{
		Unique:  string(a[0]),
		Known:   string(a[1]) == "1",
		Running: string(a[2]) == "1",
		Status:  Status{parseNumber(a[3]), parseNumber(a[4])},
		Waiting: int(parseNumber(a[5])),
	}, nil
}
