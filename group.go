package gearman

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"
)

// Submitter is what [Pool] and [Conn] share: the calls that submit one job.
// A [Group] runs its jobs through one.
type Submitter interface {
	Submit(ctx context.Context, job Job) (*Task, error)
	Do(ctx context.Context, job Job) ([]byte, error)
}

// DefaultGroupInFlight is a group's default [GroupOptions.MaxInFlight].
const DefaultGroupInFlight = 64

// ErrGroupStopped is the error of a job a [Group] gave up on before it
// ended: after another job failed under [GroupOptions.FailFast], or when the
// caller stopped ranging over [Group.Results].
var ErrGroupStopped = errors.New("gearman: group stopped")

// GroupOptions configures a [Group]. A nil *GroupOptions, and every zero
// field, means the documented default.
type GroupOptions struct {
	// MaxInFlight bounds the group's jobs submitted and not yet ended: the
	// group takes the next job from its sequence only when one has ended
	// and its outcome has been taken, so a group of a million jobs holds
	// at most MaxInFlight tasks at once, run by as many goroutines. Default:
	// [DefaultGroupInFlight].
	MaxInFlight int
	// FailFast stops the group at the first job that fails: the jobs still
	// running are abandoned and end with an error wrapping
	// [ErrGroupStopped], no further job is taken from the sequence, and
	// [GroupDone.Err] is that first failure. By default a failed job is
	// reported and the others go on.
	FailFast bool
	// AssignTimeout and RunTimeout, when not zero, are the timeouts of
	// each foreground job of the group that has none of its own (see
	// [Job.AssignTimeout] and [Job.RunTimeout]): a job no worker took in
	// time fails with [ErrAssignTimeout], one that ran too long with
	// [ErrRunTimeout], and the others go on (unless FailFast).
	AssignTimeout, RunTimeout time.Duration
}

// JobResult is the outcome of one job of a [Group]: what [Pool.Do] returned
// for it.
type JobResult struct {
	Data []byte // the result, when Err is nil
	Err  error  // the job's error, as Do returns it
}

// GroupDone sums up a [Group] once it has ended.
type GroupDone struct {
	// Jobs is the number of jobs taken from the sequence; each of them
	// was reported once, with its index, by [Group.Results]. Jobs the group
	// never took (it stopped first) were never submitted.
	Jobs int
	// Completed and Failed count the jobs that ended without and with an
	// error; they add up to Jobs.
	Completed, Failed int
	// Err says why the group stopped before the end of its sequence: the
	// context's error, the first failure under FailFast (wrapped with its
	// index), or [ErrGroupStopped] when the caller stopped ranging. It is
	// nil when every job of the sequence was taken, whether or not they
	// all succeeded.
	Err error
}

// Group runs a sequence of jobs as one: each job's outcome is delivered as
// it ends, in completion order, with the job's index in the sequence, and
// [Group.Wait] then gives the counts. One context bounds the whole group;
// when it ends, the jobs not ended are abandoned (they end with its error)
// and no further job is submitted. At most [GroupOptions.MaxInFlight] jobs
// are in flight at once, taken from the sequence as earlier ones end: the
// sequence may be endless or produce its jobs lazily.
//
//	g := gearman.NewGroup(ctx, pool, slices.Values(jobs), nil)
//	for i, r := range g.Results() {
//		if r.Err != nil {
//			log.Printf("job %d: %v", i, r.Err)
//			continue
//		}
//		use(i, r.Data)
//	}
//	done := g.Wait() // done.Completed, done.Failed, done.Err
//
// The jobs go through the Submitter's Do: on a [Pool], round-robin over the
// live servers, a submit that a server refused or never got going to the
// next one; a job lost with its server after it was created is reported
// with an error wrapping [ErrConnLost] and not run again (it may have run).
// A handler may run a group of sub-jobs, under the rule of [Pool] about
// waiting for jobs the same pool serves.
//
// An abandoned job is abandoned by this client: its result is dropped, but
// a server may still run it. On this package's [Server] and on gearmand a
// queued foreground job nobody waits for any more is dropped only when its
// connection closes (see [Job.AssignTimeout] for withdrawing jobs).
//
// Nothing runs before Results is ranged over or Wait is called, and
// everything the group started has ended when either returns: a group holds
// no goroutine once its loop is over, even after a break. A Group runs
// once. The group takes its jobs from the sequence one at a time, on its
// runners' goroutines: a sequence that blocks holds up the whole group,
// its end included, and the group's context does not interrupt it (a
// sequence that waits should watch that context itself).
type Group struct {
	ctx  context.Context
	s    Submitter
	jobs iter.Seq[Job]
	opts GroupOptions

	once     sync.Once
	finished chan struct{} // closed when the run has ended
	done     GroupDone
}

// NewGroup returns a group that runs jobs through s (a [Pool] or a [Conn])
// under ctx; the jobs run when [Group.Results] is ranged over or
// [Group.Wait] is called. slices.Values makes a sequence of a slice.
func NewGroup(ctx context.Context, s Submitter, jobs iter.Seq[Job], opts *GroupOptions) *Group {
	g := &Group{ctx: ctx, s: s, jobs: jobs, finished: make(chan struct{})}
	if opts != nil {
		g.opts = *opts
	}
	if g.opts.MaxInFlight <= 0 {
		g.opts.MaxInFlight = DefaultGroupInFlight
	}
	return g
}

// Results runs the group and yields the index and outcome of each job as
// it ends, in completion order; the loop ends when every job taken has been
// reported. Breaking out of the loop stops the group: the jobs in flight are
// abandoned (their outcomes are not yielded) and Results returns once they
// have ended. A second call, or a call after Wait, yields nothing; one made
// while the first runs waits until it has ended (so never make one from
// inside the loop).
func (g *Group) Results() iter.Seq2[int, JobResult] {
	return func(yield func(int, JobResult) bool) {
		g.once.Do(func() { g.run(yield) })
	}
}

// Wait runs the group if nothing has yet, dropping the outcomes, or waits
// until the run under way has ended, and returns its summary. Call it after
// ranging over Results to learn the counts; it must not be called from
// inside that loop.
func (g *Group) Wait() GroupDone {
	g.once.Do(func() {
		g.run(func(int, JobResult) bool { return true })
	})
	<-g.finished
	return g.done
}

// outcome is one job's end, from a runner to the loop.
type outcome struct {
	i int
	r JobResult
}

// groupRun is the state one run shares among its runners.
type groupRun struct {
	g      *Group
	ctx    context.Context // the group's, cancelled when it stops
	stop   context.CancelCauseFunc
	out    chan outcome
	wg     sync.WaitGroup
	mu     sync.Mutex // guards what follows
	next   func() (Job, bool)
	taken  int
	ended  bool // the group takes no more jobs
	drawn  bool // the sequence came to its end
	ctxHit bool // a job ended with the caller's context's error
	spawns int  // runners started
	panic  any  // what the sequence panicked with
}

// run runs the group, handing each outcome to yield until it returns false.
func (g *Group) run(yield func(int, JobResult) bool) {
	ctx, stop := context.WithCancelCause(g.ctx)
	next, release := iter.Pull(g.jobs)
	r := &groupRun{g: g, ctx: ctx, stop: stop, next: next, out: make(chan outcome)}
	defer func() {
		// Also when the loop's body panics: nothing the group started
		// outlives it.
		stop(nil)
		for range r.out {
		}
		release() // every runner has returned: nobody calls next any more
		close(g.finished)
	}()
	r.mu.Lock()
	r.spawn()
	r.mu.Unlock()
	go func() {
		r.wg.Wait()
		close(r.out)
	}()
	d := &g.done
	yielding := true
	for o := range r.out {
		if o.r.Err != nil {
			d.Failed++
		} else {
			d.Completed++
		}
		if yielding && !yield(o.i, o.r) {
			yielding = false
			stop(fmt.Errorf("%w: the caller stopped ranging over its results", ErrGroupStopped))
		}
	}
	d.Jobs = r.taken
	if r.panic != nil {
		panic(r.panic)
	}
	switch {
	case d.Err != nil: // the first failure under FailFast
	case !yielding:
		d.Err = context.Cause(ctx)
	case g.ctx.Err() != nil && (r.ctxHit || !r.drawn):
		d.Err = g.ctx.Err()
	}
}

// spawn starts a runner. r.mu held.
func (r *groupRun) spawn() {
	r.spawns++
	r.wg.Add(1)
	go r.runner()
}

// take returns the next job of the sequence and its index, starting
// another runner while the group has room for one more job in flight.
func (r *groupRun) take() (job Job, i int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return Job{}, 0, false
	}
	if r.ctx.Err() != nil {
		r.ended = true
		return Job{}, 0, false
	}
	defer func() {
		if p := recover(); p != nil {
			r.panic, r.ended = p, true
			r.stop(fmt.Errorf("%w: its sequence of jobs panicked", ErrGroupStopped))
		}
	}()
	job, ok = r.next()
	if !ok {
		r.ended, r.drawn = true, true
		return Job{}, 0, false
	}
	i = r.taken
	r.taken++
	if r.spawns < r.g.opts.MaxInFlight {
		r.spawn()
	}
	return job, i, true
}

// runner runs jobs one after another until the group has none left.
func (r *groupRun) runner() {
	defer r.wg.Done()
	for {
		job, i, ok := r.take()
		if !ok {
			return
		}
		if !job.Background {
			if job.AssignTimeout == 0 {
				job.AssignTimeout = r.g.opts.AssignTimeout
			}
			if job.RunTimeout == 0 {
				job.RunTimeout = r.g.opts.RunTimeout
			}
		}
		data, err := r.g.s.Do(r.ctx, job)
		if err != nil {
			err = r.failed(i, err)
		}
		r.out <- outcome{i, JobResult{Data: data, Err: err}}
	}
}

// failed returns the error to report for job i, which failed with err,
// and stops the group on a first failure under FailFast.
func (r *groupRun) failed(i int, err error) error {
	if r.ctx.Err() != nil && r.g.ctx.Err() == nil && errors.Is(err, context.Canceled) {
		// The group stopped, not the caller's context: say why.
		stopped := fmt.Errorf("gearman: job %d of the group: %w", i, context.Cause(r.ctx))
		if SafeToRetry(err) {
			return unsent(stopped)
		}
		return stopped
	}
	if r.g.ctx.Err() != nil && errors.Is(err, r.g.ctx.Err()) {
		r.mu.Lock()
		r.ctxHit = true
		r.mu.Unlock()
		return err
	}
	if r.g.opts.FailFast {
		r.mu.Lock()
		first := r.g.done.Err == nil
		if first {
			r.g.done.Err = fmt.Errorf("gearman: job %d of the group: %w", i, err)
		}
		r.mu.Unlock()
		if first {
			r.stop(fmt.Errorf("%w: job %d failed", ErrGroupStopped, i))
		}
	}
	return err
}
