package gearman

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of a job's own timeouts ([Job.AssignTimeout], [Job.RunTimeout]).
// The caller's context ending is still [context.DeadlineExceeded] (or
// [context.Canceled]): the three are told apart with [errors.Is].
var (
	// ErrAssignTimeout means no worker took the job within its
	// AssignTimeout: it never ran (see [TimeoutError.Started] for the one
	// exception).
	ErrAssignTimeout = errors.New("gearman: no worker took the job in time")
	// ErrRunTimeout means the job ran longer than its RunTimeout.
	ErrRunTimeout = errors.New("gearman: job ran too long")
)

// TimeoutError is the error of a job that exceeded its AssignTimeout or
// RunTimeout. It matches [ErrAssignTimeout] or [ErrRunTimeout] with
// [errors.Is].
//
// A job past its AssignTimeout is withdrawn with the admin command "cancel
// job", sent on an admin connection of the [Conn]'s own to the same
// address (dialled at the first withdrawal, closed with the Conn). This
// package's [Server] removes the queued job at once. gearmand (1.1) sends
// its clients WORK_FAIL at once and keeps the job, marked cancelled, until
// a worker's grab reaches it and drops it without running it. While the
// client withdraws a job, the WORK_FAIL that follows does not end its task:
// the TimeoutError does. Nothing is withdrawn for a RunTimeout: the job is
// running, and cancelling it would not stop its worker.
type TimeoutError struct {
	Func   string        // the job's function
	Handle string        // the job's handle
	Assign bool          // the AssignTimeout expired (else the RunTimeout)
	Limit  time.Duration // the timeout that expired
	// Withdrawn (assign timeout) says that the server took the job off
	// its queue ("cancel job"), so that no worker will run it. When false,
	// the withdrawal failed (the server has no admin protocol on its port,
	// or did not answer), or was not tried because the job has a unique
	// id (other clients may wait on the same job, and cancelling it would
	// fail it for them too), and the job may still run, its result going
	// nowhere.
	Withdrawn bool
	// Started (assign timeout) says that a worker took the job in the
	// instant between the client's last look and the withdrawal: the
	// server cancelled it while it ran, so it may have run, once, its
	// result dropped.
	Started bool
}

// Error describes the timeout, such as "gearman: job H:host:7 of resize:
// no worker took it within 2s: it never ran (withdrawn from the server)".
func (e *TimeoutError) Error() string {
	head := "gearman: job " + e.Handle + " of " + e.Func + ": "
	if !e.Assign {
		return head + "ran longer than " + e.Limit.String() + " (abandoned; its worker was not stopped)"
	}
	switch {
	case e.Started:
		return head + "no worker took it within " + e.Limit.String() + "; withdrawn as a worker took it, so it may have run (its result dropped)"
	case e.Withdrawn:
		return head + "no worker took it within " + e.Limit.String() + ": it never ran (withdrawn from the server)"
	}
	return head + "no worker took it within " + e.Limit.String() + "; the server did not withdraw it, so it may still run (its result going nowhere)"
}

// Unwrap returns [ErrAssignTimeout] or [ErrRunTimeout].
func (e *TimeoutError) Unwrap() error {
	if e.Assign {
		return ErrAssignTimeout
	}
	return ErrRunTimeout
}

// timed reports whether j has a timeout of its own.
func (j *Job) timed() bool { return j.AssignTimeout > 0 || j.RunTimeout > 0 }

// jobTimer is what the connection's reader tells a timed task's watcher.
type jobTimer struct {
	assign, run time.Duration // the job's timeouts
	noticed     bool          // the server tells when the job starts (startNotices): no polling
	spoke       chan struct{} // closed at the first packet of the job's worker
	spokeOnce   sync.Once
	withdrawing atomic.Bool // the watcher is withdrawing the job: its end is the watcher's to report
}

// workerSpoke records that the worker of t's job sent a packet (WORK_DATA,
// WORK_STATUS, WORK_WARNING): the job runs. The reader calls it.
func (t *Task) workerSpoke() {
	if jt := t.timing; jt != nil {
		jt.spokeOnce.Do(func() { close(jt.spoke) })
	}
}

// withdrawn reports whether the end of t's job that the server just sent
// (WORK_FAIL) is the watcher's withdrawal, which the watcher reports
// itself. The reader calls it.
func (t *Task) withdrawn() bool {
	return t.timing != nil && t.timing.withdrawing.Load()
}

// timeTask arms the timeouts of t, whose job has them; open calls it
// before the submit is sent. noticed says that the server will tell when
// the job starts.
func (c *Conn) timeTask(t *Task, noticed bool) {
	t.timing = &jobTimer{assign: t.job.AssignTimeout, run: t.job.RunTimeout, noticed: noticed, spoke: make(chan struct{})}
}

// watchTimeouts enforces the timeouts of t, a timed task whose submit has
// been sent, until it ends. It runs on a goroutine of its own, which ends
// with the task.
//
// The AssignTimeout counts from JOB_CREATED. The RunTimeout counts from
// when the client learns that a worker took the job. This package's
// server tells it, with the option the connection negotiated at its first
// job with a RunTimeout (wire.OptionAssigned): a WORK_STATUS at the
// assignment, and the watcher asks nothing. gearmand tells nothing of the
// kind, so there the timer starts at the worker's first WORK_DATA,
// WORK_STATUS or WORK_WARNING, or at a GET_STATUS answer that says the job
// runs, asked every tenth of the RunTimeout (at least pollFloor apart, at
// most pollCeiling) until one does. A job is so never failed before it ran
// its RunTimeout; on gearmand, at most a poll later.
func (c *Conn) watchTimeouts(t *Task) {
	select {
	case <-t.Created():
	case <-t.done:
		return
	}
	h := t.Handle()
	if h == "" {
		return
	}
	job := t.timing
	var assign, run, poll <-chan time.Time
	if job.assign > 0 {
		tm := time.NewTimer(job.assign)
		defer tm.Stop()
		assign = tm.C
	}
	var ticker *time.Ticker
	if job.run > 0 && !job.noticed {
		ticker = time.NewTicker(pollInterval(job.run))
		defer ticker.Stop()
		poll = ticker.C
	}
	var runTimer *time.Timer
	defer func() {
		if runTimer != nil {
			runTimer.Stop()
		}
	}()
	spoke := t.timing.spoke
	started := func() {
		assign, poll, spoke = nil, nil, nil
		if ticker != nil {
			ticker.Stop()
		}
		if job.run > 0 {
			runTimer = time.NewTimer(job.run)
			run = runTimer.C
		}
	}
	for {
		select {
		case <-t.done:
			return
		case <-spoke:
			started()
		case <-poll:
			if st, err := c.statusOf(h); err == nil && st.Running {
				started()
			}
		case <-assign:
			st, err := c.statusOf(h)
			switch {
			case err == nil && st.Running:
				started()
				continue
			case err == nil && !st.Known:
				// It has just ended: its result is on its way.
				assign = nil
				continue
			case err != nil && c.Err() != nil:
				return // the task ends with the connection
			}
			c.dropTask(t, c.withdraw(t, h))
			return
		case <-run:
			c.dropTask(t, &TimeoutError{Func: t.fn, Handle: h, Limit: job.run})
			return
		}
	}
}

// pollFloor and pollCeiling bound the interval at which a watcher asks a
// server that does not tell when jobs start (gearmand) whether its job
// runs yet. The floor bounds the load: each job waiting for a worker costs
// its connection at most 20 GET_STATUS a second (64 jobs with a RunTimeout
// of 50ms, 1,280 a second), at the price of a job running at most 50ms
// past its RunTimeout there.
const (
	pollFloor   = 50 * time.Millisecond
	pollCeiling = 500 * time.Millisecond
)

// pollInterval is how often a watcher asks whether a job with RunTimeout
// run has started.
func pollInterval(run time.Duration) time.Duration {
	return min(max(run/10, pollFloor), pollCeiling)
}

// timeoutWait bounds each status request a watcher makes, and adminWait
// each withdrawal: a server that does not answer "cancel job" (the abraxas
// server has no admin protocol) holds a job's error that long, once in
// adminRetry.
const (
	timeoutWait = 5 * time.Second
	adminWait   = 2 * time.Second
)

// statusOf asks the server about the job with handle h.
func (c *Conn) statusOf(h string) (JobStatus, error) {
	ctx, cancel := context.WithTimeout(c.baseCtx, timeoutWait)
	defer cancel()
	return c.JobStatus(ctx, h)
}

// withdraw takes the queued job h of t off the server ("cancel job" on an
// admin connection of its own) and returns the error t ends with. While it
// withdraws, the WORK_FAIL the server sends for the job does not end the
// task: the error says what happened.
func (c *Conn) withdraw(t *Task, h string) error {
	e := &TimeoutError{Func: t.fn, Handle: h, Assign: true, Limit: t.timing.assign}
	if t.unique != "" {
		// Other clients may wait on the same job: "cancel job" would
		// fail it for them too.
		return e
	}
	t.timing.withdrawing.Store(true)
	if err := c.admin.cancelJob(c, h); err != nil {
		c.opts.Logger.Warn("gearman: withdrawing a job past its assign timeout failed", "server", c.addr, "handle", h, "error", err)
		return e
	}
	e.Withdrawn = true
	// Both servers cancel a running job too: one that a worker took
	// since the last look is still known and running.
	if st, err := c.statusOf(h); err == nil && st.Known && st.Running {
		e.Started = true
	}
	return e
}

// dropTask ends client task t with err and stops everything waiting on it:
// what its context ending does.
func (c *Conn) dropTask(t *Task, err error) {
	c.abandon(t, err)
	c.interruptReader(t) // a Submit's or Result's caller reading for t
	if t.st != nil {
		// A background job is done once created, but its payload may
		// still be going: its writers stop, waiting for credit or not,
		// and the server drops the job.
		t.stopStream(fmt.Errorf("gearman: payload of task %s: %w", t.fn, err))
	}
}

// doTimed is Do for a job with timeouts of its own: Submit then Result,
// with a watcher of the task's timeouts.
func (c *Conn) doTimed(ctx context.Context, job Job) ([]byte, error) {
	t, err := c.Submit(ctx, job)
	if err != nil {
		return nil, err
	}
	return t.Result(ctx)
}

// connAdmin is a connection's admin connection to the same server, dialled
// when a job is first withdrawn and closed with the connection.
type connAdmin struct {
	mu      sync.Mutex
	ac      *AdminClient
	unwatch func() bool // stops closing ac with the connection
	broke   error       // why the last dial or command failed, not by an answer
	brokeAt time.Time   // when
}

// adminRetry is how long after a failed admin connection withdrawals fail
// at once instead of each waiting for a server that does not answer.
const adminRetry = 10 * time.Second

// cancelJob sends "cancel job h" to c's server, waiting adminWait at most
// once its turn has come: withdrawals wait for one another (one admin
// connection), and a burst of them must not run out of time in line and
// so mark a working connection broken.
func (a *connAdmin) cancelJob(c *Conn, h string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.baseCtx, adminWait)
	defer cancel()
	if a.broke != nil && time.Since(a.brokeAt) < adminRetry {
		return a.broke
	}
	a.broke = nil
	if a.ac == nil {
		ac, err := DialAdmin(ctx, c.addr, &AdminOptions{DialContext: c.opts.DialContext, TLSConfig: c.opts.TLSConfig})
		if err != nil {
			a.broke, a.brokeAt = err, time.Now()
			return err
		}
		a.ac = ac
		a.unwatch = context.AfterFunc(c.baseCtx, func() { ac.Close() })
	}
	err := a.ac.CancelJob(ctx, h)
	var ae *AdminError
	if err != nil && !errors.As(err, &ae) {
		a.ac.Close() // broken: dial again, after a while
		a.unwatch()
		a.ac, a.unwatch = nil, nil
		a.broke, a.brokeAt = err, time.Now()
	}
	return err
}
