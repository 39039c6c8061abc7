package gearman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/internal/filestore"
	"github.com/seed749d6d6d/gearman/internal/pgstore"
	"github.com/seed749d6d6d/gearman/internal/store"
)

// A Store keeps a [Server]'s background jobs across restarts and crashes.
// Open one with [OpenStore] and set it as [Server.Store]; the Server closes
// it when it closes.
//
// # What is kept
//
// Background jobs (SUBMIT_JOB_BG, _HIGH_BG, _LOW_BG, SUBMIT_JOB_EPOCH,
// SUBMIT_JOB_SCHED and SUBMIT_REDUCE_JOB_BACKGROUND) are stored with their
// handle, unique id, priority, queue position, time or schedule, and
// retry count; after a restart each is back as it was (a job that was
// running is queued again, its lost attempt counted against
// [Server.JobRetries]). Foreground jobs are not stored: their client's
// connection owns them, and it ends with the process. Background jobs
// whose payload was streamed (the streaming extension's SUBMIT_STREAM)
// are not stored either.
//
// With a [RetryPolicy] on, a failed job's failures (count, last error,
// times) are stored with it, so a retry waiting for its time comes back
// after a restart, and so do the dead letters. The embedded store's
// format is version 2 since then; it opens stores of version 1, and a
// store that has held a failed job cannot be opened by a server of an
// earlier version (it reports a damaged record). On PostgreSQL the
// schema's version 2 adds the failures' columns and the gearman_dead
// table; the first server of the new version to start migrates the
// database, after which servers of an earlier version refuse it.
//
// # Guarantees
//
// A background submit is answered JOB_CREATED only once its record is on
// disk (fdatasync'd). Many submits, from one pipelining connection or from
// many, share one write and sync (group commit), so a slow disk costs
// latency, not throughput. A job's end is recorded without waiting: after
// a crash, a job that ended within the last commit window (a few
// milliseconds) runs again. Delivery is at least once.
//
// A submit whose record cannot be written (a full disk, an I/O error) is
// answered ERROR QUEUE_ERROR and nothing else is lost. Damage found at open
// is reported with the file and offset ([StoreOptions.Salvage] opens
// anyway); a crash's torn last record is cut and logged.
//
// # PostgreSQL: a cluster
//
// A store on PostgreSQL (postgres://...) is one queue that several servers
// share. Each server keeps in memory only the background jobs it runs or
// is about to: it claims them from the database as its workers ask, under
// a lease it renews ([StoreOptions.Lease]); another server claims the jobs
// of one that stopped renewing. JOB_CREATED still waits for the job's
// commit; handles are unique in the cluster and unique ids coalesce across
// it. The README's "Running a cluster" says what survives what.
type Store struct {
	log store.Log
}

// StoreOptions configure [OpenStore]. A nil *StoreOptions is the zero value.
type StoreOptions struct {
	// Salvage opens a store with damaged records anyway, skipping them
	// (the jobs they held are lost) and logging each. Default false: a
	// damaged store is not opened.
	Salvage bool
	// SegmentSize is the size of the embedded store's files (the unit in
	// which space is reclaimed). Default 64 MiB.
	SegmentSize int64
	// Logger receives the store's own log (torn tails, write failures).
	// Default nil: none.
	Logger *slog.Logger

	// Lease is how long a server of a cluster (a PostgreSQL store) holds
	// the jobs it claimed unless it renews the hold, which it does every
	// third of it: a server that dies has its jobs run elsewhere after
	// about this long. Default 10 s.
	Lease time.Duration
	// Poll is how often a server of a cluster looks for jobs without a
	// notification: it bounds the delay of an epoch or scheduled job
	// whose time has come. Default 1 s.
	Poll time.Duration
}

// StoreCorruptError is the error of opening an embedded store that has a
// damaged record before its end: File and Offset say where. With
// [StoreOptions.Salvage] the store opens anyway, without the jobs of the
// damaged records.
type StoreCorruptError = filestore.CorruptError

// ErrStoreLocked is the error of opening a store that another process
// (or another Store in this one) has open.
var ErrStoreLocked = filestore.ErrLocked

// OpenStore opens the store url names, reading every job it holds:
//
//	file:PATH            the embedded store in directory PATH (created if missing)
//	postgres://...       a PostgreSQL database that several servers may share
//	postgresql://...     (a cluster); the URL as libpq and pgx take it
//
// See the README's "Running a cluster" for what a PostgreSQL store keeps
// and how servers share it.
// A path may also be given as file://PATH. Without a store, a Server keeps
// its jobs in memory only.
func OpenStore(ctx context.Context, url string, opts *StoreOptions) (*Store, error) {
	if opts == nil {
		opts = &StoreOptions{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("gearman: store %q: want file:PATH or postgres://...", url)
	}
	switch scheme {
	case "file":
		path := strings.TrimPrefix(rest, "//")
		l, err := filestore.Open(path, filestore.Options{SegmentSize: opts.SegmentSize, Salvage: opts.Salvage, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		return &Store{log: l}, nil
	case "postgres", "postgresql":
		l, err := pgstore.Open(ctx, url, pgstore.Options{Lease: opts.Lease, Poll: opts.Poll, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		return &Store{log: l}, nil
	}
	return nil, fmt.Errorf("gearman: store %q: %w", url, errUnknownStore)
}

var errUnknownStore = errors.New("unknown kind of store (want file:PATH or postgres://...)")

// String says where the store keeps its jobs, as a URL.
func (st *Store) String() string { return st.log.Where() }

// Close releases a store that was never given to a Server. A Server closes
// its own Store.
func (st *Store) Close() error { return st.log.Close(context.Background()) }
