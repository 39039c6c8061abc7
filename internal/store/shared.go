package store

import (
	"context"
	"time"
)

// Shared is a Log that several servers share (the PostgreSQL store): one
// queue of background jobs for a cluster.
//
// With a Shared log the engine keeps in memory only the stored jobs it
// holds: those it claimed from the shared queue, and those it created with
// [Job.Held] set. A background job submitted with Held unset goes into the
// shared queue and the engine forgets it once its record is durable; any
// server of the cluster then claims it when one of its workers can take
// it. The log claims on the engine's behalf: the engine says how many
// jobs of each function it would take ([Shared.Want]) and the log hands
// claimed jobs over with [Claimer.Deliver].
//
// A held job is leased: the log renews its servers' leases while it runs,
// and when a server stops renewing (it died, or lost the database), other
// servers claim its jobs once the lease has run out; a job that was
// running then counts a lost attempt ([Job.Lost]).
type Shared interface {
	Log

	// Want says that the engine would take n more jobs of function fn now
	// (0: none). Each call replaces the last number for fn. It must not
	// block.
	Want(fn string, n int)
	// Release gives back held, queued jobs that the engine has forgotten
	// (their function lost its workers here): other servers may claim
	// them. It must not block.
	Release(ids []uint64)

	// Progress records the newest WORK_STATUS of a held, running job, for
	// GET_STATUS on other servers; only the newest one per job waits to
	// be written. It must not block.
	Progress(id uint64, num, den int64)

	// Status looks a job up in the shared queue by its id.
	Status(ctx context.Context, id uint64) (JobStatus, error)
	// StatusUnique looks a job up in the shared queue by its unique id,
	// whatever its function; of several, the oldest.
	StatusUnique(ctx context.Context, unique string) (JobStatus, error)
	// Cancel removes a job from the shared queue. A server that holds it
	// hears of it (Claimer.Cancelled). It reports whether the job was
	// there.
	Cancel(ctx context.Context, id uint64) (bool, error)

	// Hold is how long a claimed job may wait in the engine's queue for
	// a worker before the engine gives it back with Release.
	Hold() time.Duration
}

// DeadLetters is implemented by a Shared log that keeps the cluster's
// dead letters (jobs of [Job.Dead], recorded with [Log.Failed]) itself:
// the engine keeps none of them in memory then, and lists, retries and
// purges them here. id 0 picks every dead letter (of fn when fn is not
// "").
type DeadLetters interface {
	// ListDead returns the first limit dead letters of fn (every
	// function when fn is ""; all when limit <= 0), oldest first, and
	// how many there are.
	ListDead(ctx context.Context, fn string, limit int) ([]Job, int, error)
	// ReviveDead queues the picked dead letters again in the shared
	// queue, their failures reset; it returns how many.
	ReviveDead(ctx context.Context, id uint64, fn string) (int, error)
	// PurgeDead deletes the picked dead letters; it returns how many.
	PurgeDead(ctx context.Context, id uint64, fn string) (int, error)
	// LimitDead bounds the list: past n, the oldest are deleted as new
	// ones come.
	LimitDead(n int)
}

// ClusterCounter is implemented by a Shared log that can count the whole
// cluster's jobs, for the operators' views: a server's own figures count
// only the jobs it holds.
type ClusterCounter interface {
	// ClusterStatus counts the shared queue's jobs by function and lists
	// the servers. It may answer from a count a few seconds old.
	ClusterStatus(ctx context.Context) (ClusterStatus, error)
	// DeadCounts counts the cluster's dead letters by function. It may
	// answer from a count a few seconds old; the map is the caller's to
	// read, not to change.
	DeadCounts(ctx context.Context) (map[string]int, error)
}

// ClusterStatus is the shared queue as a whole.
type ClusterStatus struct {
	Time  time.Time // when it was counted
	Funcs []ClusterFunc
	Nodes []ClusterNode
}

// ClusterFunc counts one function's jobs in the shared queue.
type ClusterFunc struct {
	Func    string
	Queued  int // free, and their time has come: any server may claim them
	Held    int // claimed by a server, waiting there for a worker
	Running int // a worker has them
	Waiting int // free, their time not yet come (epoch, scheduled, a failed job's retry)
	Dead    int // dead letters
}

// ClusterNode is one server of the cluster.
type ClusterNode struct {
	ID      int64
	Lease   time.Time // its hold on its jobs lasts until then unless renewed
	Started time.Time
	Self    bool // the server that asked
}

// JobStatus is what the shared queue knows of one job.
type JobStatus struct {
	Known    bool
	Running  bool
	Num, Den int64 // the running job's last WORK_STATUS
}

// Claimer is the engine's side of a [Shared] log; the log gets it as the
// Relogger of [Log.Start].
type Claimer interface {
	Relogger
	// Deliver hands the engine jobs that the log claimed for it, each
	// now held by this server. It takes the engine's lock.
	Deliver(jobs []*Job)
	// Cancelled tells the engine that a job it may hold was cancelled on
	// another server. It takes the engine's lock.
	Cancelled(id uint64)
	// LeaseLost tells the engine that the log could not renew its leases
	// in time: other servers may claim its jobs now, so the engine
	// forgets those it holds that are not running. It takes the engine's
	// lock.
	LeaseLost()
}

// Coalesced is implemented by the Commit of a [Shared] log's Created: after
// Done, Existing returns the id of the job already in the shared queue with
// the same function and unique id, which the submit joined instead
// (0: none, the new job was stored).
type Coalesced interface {
	Existing() uint64
}
