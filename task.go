package gearman

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Future is the eventual result of a job, shaped like [context.Context]:
// Done is closed when the job has ended, Err then reports how, and Result
// waits for the whole result. [*Task] is a Future.
type Future interface {
	// Done returns a channel closed when the job has ended: completed,
	// failed, or abandoned (its context ended or its connection was lost).
	Done() <-chan struct{}
	// Err returns nil until Done is closed, then nil for a completed job or
	// the job's error; successive calls return the same error.
	Err() error
	// Result waits until the job ends and returns its result (what the
	// task's reader has not consumed yet) and Err. When ctx ends first it
	// returns ctx's error and leaves the job running. The result is held
	// whole in memory: read the task instead for a result of any size.
	Result(ctx context.Context) ([]byte, error)
}

// Task is one job as a full-duplex stream.
//
// On the client side ([Conn.Submit], [Conn.Open]) the task's writer is the
// payload and its reader the result: every WORK_DATA the worker sends, then
// WORK_COMPLETE's data. Close ends the payload and submits the job; Read
// returns [io.EOF] after a completed job, or the job's error: [ErrJobFailed],
// a [*JobException], or an error wrapping [ErrConnLost].
//
// On the worker side (a [Handler]'s task) the reader is the payload and the
// writer the result. Each Write goes out at once as WORK_DATA (or is held for
// WORK_COMPLETE with [RegisterOptions.BufferResult]); Close completes the
// job; CloseWithError fails it.
//
// A task's result (client) or payload (worker) passes through a buffer of
// [Options.TaskBuffer] bytes. When it is full, the connection stops reading
// from the server until the task's reader catches up, which holds back every
// task on that connection: read what you submit, or call Result, or cancel
// the task's context. A task whose context has ended drops what comes for it.
//
// A Task is a [Future]: Result reads the rest of the result for you. Mixing
// the two is allowed: Result returns only what Read has not consumed. Status
// and warnings come on channels; the job handle is known once Created is
// closed.
//
// Read, WriteTo and Result must not be called concurrently with one another; the other
// methods are safe for concurrent use.
type Task struct {
	conn   *Conn
	worker bool
	fn     string
	unique string
	in     *pipe // client: the result; worker: the payload; points to inPipe
	inPipe pipe

	created   chan struct{} // made on first use (Created), under handleMu
	isCreated bool          // under handleMu: the handle is known or the task ended
	handleMu  sync.Mutex
	handle    string
	status    chan Status     // client: made on first use, under handleMu
	warnings  chan []byte     // client: made on first use, under handleMu
	ctxDone   <-chan struct{} // client: Done of the context that governs the task
	done      chan struct{}
	doneOnce  sync.Once
	err       error       // the job's end, set before done is closed
	stopWatch func() bool // guarded by handleMu: set after the watch starts

	mu       sync.Mutex // guards what follows
	job      Job        // client: the job (its Data is in payload, or sent)
	payload  payloadBuf // client: a plain task's payload, held until Close
	wclosed  bool       // the write side is closed
	partial  []byte     // result read by a Result call that timed out
	lastWarn []byte     // the last warning, if it was the last packet
	reducer  string     // worker: from JOB_ASSIGN_ALL
	buffered []byte     // worker: result held for WORK_COMPLETE
	wmode    writeMode  // how writes go out: set at open or assignment (guarded by mu after)
	// flushLater (worker) lets the job's last packet wait in the queue:
	// the handler's goroutine is ending the job, and jobEnded writes it.
	flushLater bool

	req request // client: the submit
	rt  route   // client: the route to this task, unless another task's has it

	timing *jobTimer // client: the job has timeouts of its own (set by open)

	st *tstream // client: the payload goes as a stream (set by Open)
	ws *wstream // worker: assigned with JOB_ASSIGN_STREAM (set before the handler runs)

	sizeLeft int64 // client: payload bytes still due under Job.Size (guarded by mu)

	// awaited (client): Do waits for the whole result. submitted: Submit
	// waits for the handle. reads: the caller took the reading of the
	// connection at submit ([Conn.readFor]).
	awaited, submitted, reads bool
	// readParked (client): the connection is left unread for this task's
	// result, for its waiter to read ([reading.parkedFor]).
	readParked atomic.Bool
}

func newTask(c *Conn, fn string, worker bool) *Task {
	t := &Task{
		conn:   c,
		worker: worker,
		fn:     fn,
		done:   make(chan struct{}),
	}
	t.in = t.inPipe.init(c.opts.TaskBuffer)
	if worker {
		t.wmode = writeResult // until the assignment says more
	}
	return t
}

const warningBuffer = 16

// Addr returns the address of the job server the task runs on.
func (t *Task) Addr() string { return t.conn.addr }

// Func returns the job's function name.
func (t *Task) Func() string { return t.fn }

// Unique returns the job's unique id.
func (t *Task) Unique() string { return t.unique }

// Reducer returns the reducer a worker's job was assigned with (from
// JOB_ASSIGN_ALL), or "".
func (t *Task) Reducer() string { return t.reducer }

// Handle returns the job handle the server gave the job, or "" before
// Created is closed.
func (t *Task) Handle() string {
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	return t.handle
}

// Created returns a channel closed once the server has created the job (its
// handle is then known), or once the task ends without that.
func (t *Task) Created() <-chan struct{} {
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	if t.created == nil {
		if t.isCreated {
			return closedChan
		}
		t.created = make(chan struct{})
	}
	return t.created
}

// closedChan is a closed channel, for Created once it is too late to make one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// markCreated closes created, if made. t.handleMu held.
func (t *Task) markCreated() {
	if !t.isCreated {
		t.isCreated = true
		if t.created != nil {
			close(t.created)
		}
	}
}

// Status returns a channel of the progress reports (WORK_STATUS) of a client
// task. It holds the latest report only: an unread report is replaced by a
// newer one. It is nil on the worker side. On a connection that has sent a
// job with a [Job.RunTimeout] to this package's [Server], it also gets
// {0, 0} when a worker takes the job (see [wire.OptionAssigned]).
func (t *Task) Status() <-chan Status {
	if t.worker {
		return nil
	}
	t.needReader()
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	return t.statusChan()
}

// statusChan returns the status channel, making it on first use (most tasks
// never have one). t.handleMu held.
func (t *Task) statusChan() chan Status {
	if t.status == nil {
		t.status = make(chan Status, 1)
	}
	return t.status
}

// Warnings returns a channel of the warnings (WORK_WARNING data) of a client
// task. It buffers 16; when it is full the oldest unread warning is dropped,
// so unread warnings never hold back the connection. It is nil on the worker
// side.
//
// A worker of this package that fails a job with an error sends, by default
// (see [Options.SendExceptions]), WORK_WARNING with the error's text, then
// WORK_FAIL, as do other libraries against servers without exceptions: the
// job then ends with a [*JobException] carrying that text, which also came
// on Warnings, since the warning arrives before anything says that a
// failure follows (through gearmand and this package's server alike).
func (t *Task) Warnings() <-chan []byte {
	if t.worker {
		return nil
	}
	t.needReader()
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	return t.warningChan()
}

// warningChan returns the warnings channel, making it on first use.
// t.handleMu held.
func (t *Task) warningChan() chan []byte {
	if t.warnings == nil {
		t.warnings = make(chan []byte, warningBuffer)
	}
	return t.warnings
}

// Done implements [Future].
func (t *Task) Done() <-chan struct{} {
	t.needReader()
	return t.done
}

// needReader has a goroutine read the connection when it is left unread
// for this task's result ([reading.parkedFor]): its caller is about to wait
// for the result by some other way than Result.
func (t *Task) needReader() {
	if t.readParked.Load() {
		t.conn.unparkFor(t)
	}
}

// Err implements [Future].
func (t *Task) Err() error {
	t.needReader()
	select {
	case <-t.done:
		return t.err
	default:
		return nil
	}
}

// Result implements [Future].
func (t *Task) Result(ctx context.Context) ([]byte, error) {
	if t.worker {
		return nil, errors.New("gearman: Result is for client tasks")
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	if t.readParked.Load() && t.conn.takeReadingFor(t) {
		t.conn.readFor(ctx, t, false)
	}
	// The task's own context already abandons it, which wakes the pipe's
	// reader: only another context needs a watch of its own.
	data, err := t.in.readAllCtx(ctx, ctx.Done() != t.ctxDone)
	t.mu.Lock()
	if len(t.partial) > 0 {
		data = append(t.partial, data...)
		t.partial = nil
	}
	if ctx.Err() != nil && err == ctx.Err() {
		t.partial = data
		t.mu.Unlock()
		return nil, err
	}
	t.mu.Unlock()
	<-t.done // the pipe may end a moment before the task: report the task's end
	if t.err != nil {
		return data, t.err
	}
	return data, err
}

// Read reads the result (client) or the payload (worker).
func (t *Task) Read(p []byte) (int, error) {
	t.needReader()
	return t.in.Read(p)
}

// WriteTo writes what the task's reader gives (the result on the client, the
// payload on the worker) to w until its end, and returns nil after a
// completed job, else the job's error as Read would. It hands w everything
// that has arrived at once, up to 256 KiB per Write, so that io.Copy from a
// task (which uses WriteTo) makes few, large writes: a worker's
// io.Copy(task, task) sends large WORK_DATA packets.
func (t *Task) WriteTo(w io.Writer) (int64, error) {
	t.needReader()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for {
		n, err := t.in.Read(*bp)
		if n > 0 {
			m, werr := w.Write((*bp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m < n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// copyBufs holds WriteTo's buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// setHandle records the handle and marks the task created.
func (t *Task) setHandle(h string) {
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	if !t.isCreated {
		t.handle = h
		t.markCreated()
	}
}

// finish ends the job with err (nil for success): the result stream ends,
// Done is closed. Only the first call counts.
func (t *Task) finish(err error) {
	t.doneOnce.Do(func() { t.end(err) })
}

// end does finish's work; doneOnce runs it.
func (t *Task) end(err error) {
	t.err = err
	if t.st != nil && (err != nil || !t.job.Background) {
		t.stopStream(err)
	}
	if err == nil {
		t.in.close(io.EOF)
	} else {
		t.in.close(err)
	}
	// Done at once after the pipe's end, which wakes Result: it then
	// finds the task done, instead of waiting for it a second time.
	// Done before Created: a caller woken by Created (a background
	// submit) then finds the task done.
	close(t.done)
	if t.st != nil && t.job.Background && err == nil {
		// The payload may go on: its context still governs it (see
		// open), until the payload ends too (payloadEnded).
		t.st.taskDone.Store(true)
		if t.st.payloadDone.Load() {
			t.unwatch()
		}
	} else {
		t.unwatch()
	}
	t.handleMu.Lock()
	t.markCreated()
	t.handleMu.Unlock()
}

// unwatch stops watching the task's context, if open started to.
func (t *Task) unwatch() {
	t.handleMu.Lock()
	stop := t.stopWatch
	t.handleMu.Unlock()
	if stop != nil {
		stop()
	}
}

// abandon ends a client task whose context ended: it stops waiting and drops
// whatever the server sends for it later. A task that has already ended
// keeps its result: its context may end while finish runs.
func (t *Task) abandon(err error) {
	t.doneOnce.Do(func() {
		t.in.abort(err)
		t.end(err)
	})
}

// pushStatus delivers a status report, replacing an unread one.
func (t *Task) pushStatus(s Status) {
	t.handleMu.Lock()
	ch := t.statusChan()
	t.handleMu.Unlock()
	for {
		select {
		case ch <- s:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// pushWarning delivers a warning, dropping the oldest when the buffer is full.
func (t *Task) pushWarning(w []byte) {
	t.handleMu.Lock()
	ch := t.warningChan()
	t.handleMu.Unlock()
	for {
		select {
		case ch <- w:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
