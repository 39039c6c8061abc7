package gearman

import (
	"sync"
)

// Withdrawing the queued job of a caller that gave up.
//
// When the context of Do, or the context that governs a task (Submit's,
// Open's), ends before a foreground job without a unique id has ended, the
// task is abandoned at once, as always, and the connection then withdraws
// the job from the server in the background if it is still queued: it asks
// the server (GET_STATUS) and, for a job known and not running, sends the
// admin "cancel job" on the connection's admin connection (connAdmin, the
// one that withdraws jobs past their AssignTimeout). A job whose worker has
// spoken already (WORK_DATA, WORK_STATUS, WORK_WARNING, or this package's
// server's job-assigned notice on a connection that asked for it) is known
// to run and is left alone without asking. A job abandoned before its
// JOB_CREATED came is withdrawn when the handle arrives.
//
// The withdrawals of a connection run one after another on one goroutine,
// started when the first is queued and ending when the queue is empty, so
// that a group stopped with a thousand queued jobs costs one goroutine; Close
// waits for it. Each step is bounded (timeoutWait, adminWait), and a server
// without an admin port costs one failed dial each adminRetry.

// withdrawal is a client task's part in withdrawing its job when its caller
// gives up. Guarded by Task.handleMu.
type withdrawal struct {
	handle string // from JOB_CREATED, even when the task had already ended
	wanted bool   // the caller gave up: withdraw the job once its handle is known
	queued bool   // handed to the connection's withdrawer
}

// withdrawer runs a connection's withdrawals, in the background.
type withdrawer struct {
	mu      sync.Mutex
	queue   []withdrawItem
	running bool // a goroutine runs the queue
	closed  bool // Close has come: nothing more starts
	wg      sync.WaitGroup
}

type withdrawItem struct {
	t *Task
	h string
}

// maxWithdrawals bounds the withdrawals waiting in a connection's queue;
// more are not tried (the jobs may run, their results dropped).
const maxWithdrawals = 1 << 14

// giveUp ends client task t, whose caller's context ended with err, as
// abandon does, and withdraws its job if it may still be queued. drop also
// stops what waits on the task (see dropTask).
func (c *Conn) giveUp(t *Task, err error, drop bool) {
	var ended bool
	if drop {
		ended = c.dropTask(t, err)
	} else {
		ended = c.abandon(t, err)
	}
	if !ended || t.worker || t.job.Background || t.unique != "" {
		// Other clients may wait on a job with a unique id: "cancel
		// job" would fail it for them too.
		return
	}
	if t.timing != nil && t.timing.withdrawing.Load() {
		return // the assign-timeout watcher withdraws it already
	}
	t.handleMu.Lock()
	t.wd.wanted = true
	h := t.wd.handle
	queue := h != "" && !t.wd.queued
	t.wd.queued = t.wd.queued || queue
	t.handleMu.Unlock()
	if queue {
		c.queueWithdrawal(t, h)
	}
}

// created records the handle h of client task t's foreground job
// (JOB_CREATED), and withdraws the job if the caller gave up before it
// came. The reader calls it.
func (c *Conn) created(t *Task, h string) {
	t.setHandle(h)
	t.handleMu.Lock()
	t.wd.handle = h
	queue := t.wd.wanted && !t.wd.queued
	t.wd.queued = t.wd.queued || queue
	t.handleMu.Unlock()
	if queue {
		c.queueWithdrawal(t, h)
	}
}

// queueWithdrawal has the job h of abandoned task t withdrawn in the
// background, starting the withdrawer if it is not running.
func (c *Conn) queueWithdrawal(t *Task, h string) {
	w := &c.withdrawals
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || c.baseCtx.Err() != nil {
		return
	}
	if len(w.queue) >= maxWithdrawals {
		c.opts.Logger.Warn("gearman: too many withdrawals waiting; a job whose caller gave up is left queued", "server", c.addr, "handle", h)
		return
	}
	w.queue = append(w.queue, withdrawItem{t, h})
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go c.runWithdrawals()
	}
}

// runWithdrawals withdraws the queued jobs one after another until the
// queue is empty or the connection has closed.
func (c *Conn) runWithdrawals() {
	w := &c.withdrawals
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if len(w.queue) == 0 || w.closed || c.baseCtx.Err() != nil {
			w.queue, w.running = nil, false
			w.mu.Unlock()
			return
		}
		it := w.queue[0]
		w.queue[0] = withdrawItem{}
		w.queue = w.queue[1:]
		w.mu.Unlock()
		c.withdrawQueued(it.t, it.h)
	}
}

// stopWithdrawals stops the withdrawer and waits until it has returned;
// Close calls it once the connection has ended.
func (c *Conn) stopWithdrawals() {
	w := &c.withdrawals
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}

// withdrawQueued withdraws the job h of abandoned task t if the server
// says it is still queued.
func (c *Conn) withdrawQueued(t *Task, h string) {
	if t.spoke.Load() {
		return // its worker spoke: it runs, or ran
	}
	st, err := c.statusOf(h)
	switch {
	case err != nil:
		c.opts.Logger.Debug("gearman: could not ask whether a job whose caller gave up is queued; not withdrawn", "server", c.addr, "handle", h, "error", err)
		return
	case !st.Known || st.Running:
		return // ended, or running: cancelling would not stop its worker
	}
	if err := c.admin.cancelJob(c, h); err != nil {
		c.opts.Logger.Debug("gearman: withdrawing a job whose caller gave up failed", "server", c.addr, "handle", h, "error", err)
	}
}
