// Package pgstore is the job server's store on PostgreSQL: one queue of
// background jobs that several servers share (a cluster), behind
// [store.Shared].
//
// Records are queued in memory and written by one committer goroutine,
// many at once: every statement of a write goes in one pipelined batch,
// which PostgreSQL runs as one transaction with one commit (group commit).
// A claimer goroutine claims jobs of the functions the engine wants
// (FOR UPDATE SKIP LOCKED, highest priority then oldest), woken by
// LISTEN/NOTIFY when jobs are added or freed anywhere in the cluster and
// by a poll (for times that come, and missed notifications). A leaser
// goroutine renews this server's leases and frees the jobs of servers
// whose leases ran out.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// Options configure [Open].
type Options struct {
	// Lease is how long a server's hold on its jobs lasts unless renewed
	// (it is renewed every third of it); when a server dies, its jobs run
	// elsewhere after at most about this long. Default 10 s.
	Lease time.Duration
	// Poll is how often functions with idle workers are claimed for even
	// without a notification: it bounds the delay of an epoch or
	// scheduled job whose time comes, and of jobs whose notification was
	// missed. Default 1 s.
	Poll time.Duration
	// Hold is how long a claimed job may wait in this server's queue for
	// a worker before it is given back to the cluster. Default 2 s.
	Hold time.Duration
	// Logger receives the store's log (lost connections, reconnects).
	Logger *slog.Logger
}

// ErrSchemaTooNew is the error of opening a database that a newer server
// migrated.
var ErrSchemaTooNew = errors.New("pgstore: schema newer than this server")

// nodeShift places a node's number in the high bits of its job ids.
const nodeShift = 40

// maxBatch bounds the records of one write.
const maxBatch = 4096

// Log is the PostgreSQL store. It implements store.Shared.
type Log struct {
	pool *pgxpool.Pool
	// lookups is the pool of clients' look-ups (GET_STATUS, cancel), of its
	// own so that many of them cannot keep the committer and the claimer
	// waiting for a connection.
	lookups *pgxpool.Pool
	url     string // for the listener's own connection
	where   string // the URL without its password
	node    int64
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex
	recs     []rec  // queued for the committer
	cur      *batch // the commit of the queued creates
	broken   error  // the last write's error, until one succeeds
	closed   bool
	wants    map[string]int
	progress map[uint64][2]int64 // the newest WORK_STATUS of running jobs, to write
	dry      map[string]bool     // claimed for with no job found: wait for a notification or the poll
	heard    map[string]bool     // claims under way; true once a notification came meanwhile
	claimer  store.Claimer

	pingMu  sync.Mutex // one Ping at a time; guards pingAt and pingErr
	pingAt  time.Time  // when the last check ended
	pingErr error      // its answer

	clusterMu   sync.Mutex          // one count of the cluster at a time (cluster.go)
	clusterAt   time.Time           // when the last count ended
	clusterLast store.ClusterStatus // its answer
	deadMu      sync.Mutex          // one count of the dead letters at a time (cluster.go)
	deadAt      time.Time           // when the last count ended
	deadCounted uint64              // deadGen when it began
	deadLast    map[string]int      // its answer
	deadGen     atomic.Uint64       // bumped when this server changes the dead letters
	deadMax     int                 // the dead-letter list's bound (deadletters.go); 0 = defaultMaxDead
	started     bool

	kick      chan struct{} // records queued
	claimKick chan struct{} // a function to claim for
	quit      chan struct{} // Close: the committer stops
	ctx       context.Context
	cancel    context.CancelFunc // Close: the other goroutines stop
	wg        sync.WaitGroup
}

// Open connects to the database at url (a postgres:// URL or key=value
// string, as pgx takes), migrates its schema, and takes a node number.
func Open(ctx context.Context, url string, opts Options) (*Log, error) {
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Hold <= 0 {
		opts.Hold = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	cfg.MaxConns = 8
	where := redact(url)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", where, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: %w", where, err)
	}
	var node int64
	err = pool.QueryRow(ctx, `INSERT INTO gearman_node (id, lease) VALUES (nextval('gearman_node_seq'), now() + make_interval(secs => $1)) RETURNING id`,
		opts.Lease.Seconds()).Scan(&node)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: taking a node number: %w", where, err)
	}
	lcfg := cfg.Copy()
	lcfg.MaxConns = 2
	lookups, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: %w", where, err)
	}
	l := &Log{
		pool: pool, lookups: lookups, url: url, where: where, node: node, opts: opts, log: opts.Logger,
		cur: newBatch(), wants: make(map[string]int), dry: make(map[string]bool), heard: make(map[string]bool),
		kick: make(chan struct{}, 1), claimKick: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// redact returns url without its password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "postgres"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// Hold implements store.Shared.
func (l *Log) Hold() time.Duration { return l.opts.Hold }

// Node returns this server's node number in the cluster.
func (l *Log) Node() int64 { return l.node }

// Replay implements store.Log. A shared queue replays nothing: its jobs
// are claimed as workers ask. It returns the first id of this node, so the
// engine's ids are unique in the cluster.
func (l *Log) Replay(func(*store.Job, store.Ref)) uint64 {
	return uint64(l.node) << nodeShift
}

// Start implements store.Log. relog must be a store.Claimer.
func (l *Log) Start(relog store.Relogger) {
	l.mu.Lock()
	l.claimer, _ = relog.(store.Claimer)
	l.started = true
	l.mu.Unlock()
	l.wg.Add(4)
	go l.commitLoop()
	go l.claimLoop()
	go l.leaseLoop()
	go l.listenLoop()
}

// Healthy implements store.Log.
func (l *Log) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return store.ErrClosed
	}
	if l.broken != nil {
		return &store.WriteError{Where: l.where, Err: l.broken}
	}
	return nil
}

// Ping implements store.Log: it runs a query on a connection of the
// look-ups' pool, within pingTimeout, and keeps the answer for pingFresh,
// so that a scrape storm on /readyz costs the database one query a
// second. Callers that come while a check runs wait for its answer.
func (l *Log) Ping(ctx context.Context) error {
	if err := l.Healthy(); err != nil {
		return err
	}
	l.pingMu.Lock()
	defer l.pingMu.Unlock()
	if !l.pingAt.IsZero() && time.Since(l.pingAt) < pingFresh {
		return l.pingErr
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := l.lookups.Ping(pctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // the caller gave up: nothing learned about the database
	}
	if err != nil {
		err = &store.WriteError{Where: l.where, Err: fmt.Errorf("ping: %w", err)}
	}
	l.pingAt, l.pingErr = time.Now(), err
	return err
}

// Ping's timing: how long one check may take, and how long its answer
// holds.
const (
	pingTimeout = time.Second
	pingFresh   = time.Second
)

// Where implements store.Log.
func (l *Log) Where() string { return l.where }

// Close implements store.Log: it writes what is queued, gives back the
// jobs this server holds (so others take them at once, a running one with
// its attempt counted lost), and closes the connections.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	started := l.started
	l.mu.Unlock()
	var err error
	l.cancel()
	if started {
		close(l.quit)
		l.wg.Wait()
		err = l.flush(ctx)
	}
	if err == nil {
		_, err = l.pool.Exec(ctx, sqlFreeNode, l.node)
	}
	if err == nil {
		_, err = l.pool.Exec(ctx, `UPDATE gearman_node SET lease = now() WHERE id = $1`, l.node)
	}
	l.pool.Close()
	l.lookups.Close()
	if err != nil {
		return &store.WriteError{Where: l.where, Err: err}
	}
	return nil
}

// sqlFreeNode gives back every job a node holds.
const sqlFreeNode = `
WITH f AS (UPDATE gearman_job SET owner = NULL WHERE owner = $1 RETURNING fn)
SELECT count(pg_notify('gearman_job', encode(fn, 'hex'))) FROM (SELECT DISTINCT fn FROM f) d`
