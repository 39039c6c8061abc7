// Package store is the seam between the job server's engine
// (internal/jobserver) and the places that keep its background jobs across
// restarts: the embedded log (internal/filestore) and, later, PostgreSQL.
//
// # Contract
//
// The engine calls a [Log]'s transition methods with its own lock held, in
// the order the transitions happen. They must not block on I/O: a Log
// queues each record in memory and a goroutine of its own writes and
// syncs many records at once (group commit). [Log.Created] returns a
// [Commit] that is done once its record is durable; the engine answers
// JOB_CREATED only then. The other transitions are not waited for: a
// crash may lose the last few of them, so a job may run once more than
// needed (at-least-once), but never a job whose JOB_CREATED went out.
//
// Foreground jobs are never stored: their client's connection owns them.
package store

import (
	"context"
	"errors"
	"fmt"
)

// Job is a stored job as the engine creates or replays it.
type Job struct {
	ID       uint64 // the number in the handle: the server's prefix + ":" + ID
	Func     string
	Unique   string // as submitted; "" for none
	Data     []byte // the payload; a replayed Job's Data is the engine's to keep
	Reducer  string // a background reduce job's reducer, else ""
	Priority int8   // 0 high, 1 normal, 2 low
	When     int64  // an epoch job's Unix time, a scheduled job's next run (its retry's, with Failures), a failed job's retry; else 0
	Schedule string // a scheduled job's five fields, space-separated, else ""
	Retries  int32  // attempts lost so far
	Created  int64  // Unix nanoseconds of the first submit

	// Failures counts the job's failed attempts (WORK_FAIL or
	// WORK_EXCEPTION from its worker) since it was submitted or last taken
	// out of the dead letters; Error is the last one's reason (the
	// exception's data, or "WORK_FAIL"); FirstFailed and LastFailed are the
	// Unix nanoseconds of the first and the last. All zero for a job that
	// never failed, or whose function keeps no failures.
	Failures    int32
	Error       string
	FirstFailed int64
	LastFailed  int64
	// Dead marks a dead letter: a failed job out of retries, kept for an
	// operator to retry or purge; it is not queued. When and Schedule are
	// unset for one.
	Dead bool

	// Lost is set on replay for a job that was running when the server
	// stopped: its attempt was lost, and Retries counts it.
	Lost bool

	// Held is set by the engine on a job it creates and keeps in its own
	// queue; a [Shared] log records it as claimed by this server. Without
	// it, a Shared log's job goes into the shared queue. Other logs ignore
	// it.
	Held bool
}

// Ref is the Log's note of where a job's record is; the engine keeps it
// with the job and hands it back with every later transition.
type Ref struct {
	Seg  uint32 // the segment that holds the job's newest full record
	Size uint32 // that record's size in bytes
	Seq  uint64 // the job's place in its queue: lower runs first
}

// Commit is the durability of one record. Its dynamic type must be
// comparable: the engine compares commits with ==, and the records of one
// write may (and, to spare the engine work, should) share one Commit.
type Commit interface {
	// Done is closed once the record is durable or has failed.
	Done() <-chan struct{}
	// Err is nil after Done when the record is durable. It must only be
	// called after Done is closed.
	Err() error
}

// Log records the transitions of stored jobs. Every method but Close is
// called with the engine's lock held and must return without waiting for
// I/O.
type Log interface {
	// Replay calls fn for every job the log holds, dead letters
	// ([Job.Dead]) included, in queue order (lowest Seq first), and
	// forgets them. It is called once, before any other
	// method but Close.
	Replay(fn func(*Job, Ref)) (maxID uint64)

	// Start begins the log's background work; relog is how the log asks
	// the engine to write the newest state of some of its jobs again (see
	// [Relogger]).
	Start(relog Relogger)

	// Created records a new stored job (or the newest full state of one
	// being moved by a Relogger, with its old ref's Seq). seq == 0 means
	// "at the tail of its queue".
	Created(j Job, seq uint64) (Ref, Commit)
	// Assigned records that a worker took the job.
	Assigned(ref Ref, id uint64)
	// Requeued records that the job's attempt was lost and it is queued
	// again, at the tail; it returns the job's new ref.
	Requeued(ref Ref, id uint64, retries int32) Ref
	// RunEnded records that a scheduled job's run ended: it waits for its
	// next time, next (Unix seconds).
	RunEnded(ref Ref, id uint64, next int64)
	// Failed records the newest full state of a job whose attempt failed
	// (see [Job.Failures]): waiting to be retried at j.When, or a dead
	// letter (j.Dead); of a dead letter queued again (j.Dead unset,
	// j.When 0); and of a scheduled job whose run ended after failed
	// attempts (its failures cleared, j.When its next run). It returns the job's new ref; the job's place is the tail
	// of its queue. Like the other transitions it is not waited for.
	Failed(ref Ref, j Job) Ref
	// Finished records that the job is gone (completed, failed, cancelled,
	// out of retries), or that a dead letter was purged.
	Finished(ref Ref, id uint64)

	// Healthy returns nil while records can be written, else why not.
	Healthy() error
	// Ping checks now that the store can be reached, for readiness: nil
	// when it can. It is called without the engine's lock and may block
	// until ctx ends; a log with nothing remote answers as Healthy. A
	// Log may answer from a recent check, so that many callers cannot
	// load the store.
	Ping(ctx context.Context) error
	// Where says where the jobs are kept, for the server's log.
	Where() string

	// Close writes what is queued and releases the log's files. It is
	// called once, after the engine has stopped calling the other methods.
	Close(ctx context.Context) error
}

// Relogger is the engine's side of compaction.
type Relogger interface {
	// Relog writes again, with [Log.Created], the full state of every job
	// among ids that is live and whose ref is in segment seg, so that the
	// segment can be deleted. It takes the engine's lock.
	Relog(seg uint32, ids []uint64)
}

// ErrClosed is the error of a record queued after Close.
var ErrClosed = errors.New("store: closed")

// WriteError is the error of records that could not be made durable.
type WriteError struct {
	Where string // the file or database
	Err   error
}

func (e *WriteError) Error() string { return fmt.Sprintf("store: writing %s: %v", e.Where, e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }
