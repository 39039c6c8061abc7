package gearman

import (
	"context"
	"slices"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// RetryPolicy is what a [Server] does with a background job (plain, epoch,
// scheduled or reduce) whose worker fails it with WORK_FAIL or
// WORK_EXCEPTION. The zero value is gearmand's behaviour: the job is gone.
//
// With Retries > 0 the job runs again, up to Retries times, each after a
// wait: Backoff before the first retry, doubling up to MaxBackoff, each
// drawn at random between half of it and all of it (jitter). A retry
// waits like an epoch job, in whole seconds (a wait is rounded up), and
// shows in the admin status's total and as scheduled on the status page.
// With Keep, a job out of retries becomes a dead letter: out of every
// queue, kept with its last error (an exception's data, or the
// WORK_WARNING's that came before a WORK_FAIL, as this package's workers
// report a handler's error; cut to 1 KiB; else "WORK_FAIL"), its attempts and the times of its first and last failure,
// until an operator retries it (queued again, its retries anew) or purges
// it, with the admin commands, [Server.Handler]'s /api/dead and page, or
// [Server.RetryDeadLetters] and [Server.PurgeDeadLetters].
//
// A scheduled job's failed run is retried the same way; once out of
// retries the run is kept as a one-off dead letter with a handle of its
// own, and the schedule goes on. A streamed job (SUBMIT_STREAM), a job
// cancelled by the admin, a foreground job and a CAN_DO_TIMEOUT are never
// retried. With a [Store], failures and dead letters are stored and come
// back after a restart; with PostgreSQL the dead letters are the
// cluster's, listed and retried from any of its servers.
type RetryPolicy struct {
	Retries    int           // retries after the first failure; 0 = none
	Backoff    time.Duration // the first retry's wait; default 10 s
	MaxBackoff time.Duration // the longest wait; default 1 h
	Keep       bool          // keep a job out of retries as a dead letter
}

// DeadLetter is a failed background job out of retries, kept by its
// function's [RetryPolicy].
type DeadLetter struct {
	Handle   string // the job's handle, as its submit got it
	Function string
	Unique   string
	Data     []byte    // the payload: a copy, the caller's to keep
	Priority int       // 0 high, 1 normal, 2 low
	Attempts int       // failed attempts
	Error    string    // the last failure: the exception's (or WORK_FAIL's WORK_WARNING's) data, or "WORK_FAIL"
	First    time.Time // the first failure
	Last     time.Time // the last failure
}

// DeadLetters returns the first limit dead letters (limit <= 0: all) of
// function ("" for every function), oldest first, and how many there are.
// With a Store on PostgreSQL it reads the cluster's list from the database.
func (s *Server) DeadLetters(ctx context.Context, function string, limit int) ([]DeadLetter, int, error) {
	list, total, err := s.srv().DeadLetters(ctx, function, limit)
	out := make([]DeadLetter, len(list))
	for i, d := range list {
		out[i] = DeadLetter{
			Handle: d.Handle, Function: d.Func, Unique: d.Unique, Data: slices.Clone(d.Data), Priority: d.Priority,
			Attempts: d.Attempts, Error: d.Error, First: d.First, Last: d.Last,
		}
	}
	return out, total, err
}

// RetryDeadLetters queues dead letters again, each with its retries anew:
// the one with handle, else (handle "") those of function, else (both "")
// all. It returns how many.
func (s *Server) RetryDeadLetters(ctx context.Context, handle, function string) (int, error) {
	return s.srv().RetryDead(ctx, jobserver.DeadSelector{Handle: handle, Func: function})
}

// PurgeDeadLetters forgets dead letters, picked as by
// [Server.RetryDeadLetters]. It returns how many.
func (s *Server) PurgeDeadLetters(ctx context.Context, handle, function string) (int, error) {
	return s.srv().PurgeDead(ctx, jobserver.DeadSelector{Handle: handle, Func: function})
}

// SetRetryPolicy sets function's own retry policy, as the admin command
// "retries" does; nil puts it back to [Server.RetryFailed].
func (s *Server) SetRetryPolicy(function string, p *RetryPolicy) {
	var jp *jobserver.RetryPolicy
	if p != nil {
		c := jobserver.RetryPolicy(*p)
		jp = &c
	}
	s.srv().SetRetryPolicy(function, jp)
}
