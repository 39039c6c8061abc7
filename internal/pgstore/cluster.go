package pgstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// The cluster's figures, for the operators: every job of the shared queue
// counted by function and state, the dead letters by function, and the
// servers. The job count reads every row of gearman_job, so it is kept
// for clusterFresh and shared by every caller meanwhile: a scrape storm
// costs one count per clusterFresh. The dead letters are counted apart
// (gearman_dead is bounded by the list's bound, so the count is cheap) and
// kept for clusterFresh too, but counted again at the next call once this
// server has changed them (a dead letter written, retried or purged
// here): what an operator does shows at once on the server they do it on,
// and another server's changes within clusterFresh.

// clusterFresh is how long a count holds.
const clusterFresh = 5 * time.Second

const (
	sqlClusterJobs = `
SELECT fn,
	count(*) FILTER (WHERE owner IS NULL AND run_at <= floor(extract(epoch FROM now()))::bigint),
	count(*) FILTER (WHERE owner IS NOT NULL AND NOT running),
	count(*) FILTER (WHERE owner IS NOT NULL AND running),
	count(*) FILTER (WHERE owner IS NULL AND run_at > floor(extract(epoch FROM now()))::bigint)
FROM gearman_job GROUP BY fn`

	sqlClusterDead = `SELECT fn, count(*) FROM gearman_dead GROUP BY fn`

	sqlClusterNodes = `SELECT id, lease, started FROM gearman_node WHERE lease >= now() - interval '1 minute' ORDER BY id`
)

// ClusterStatus implements store.ClusterCounter.
func (l *Log) ClusterStatus(ctx context.Context) (store.ClusterStatus, error) {
	st, err := l.clusterJobs(ctx)
	if err != nil {
		return store.ClusterStatus{}, err
	}
	dead, err := l.DeadCounts(ctx)
	if err != nil {
		return store.ClusterStatus{}, err
	}
	// A copy, with the dead letters: the cached count stays as it was.
	funcs := make([]store.ClusterFunc, 0, len(st.Funcs)+len(dead))
	for _, f := range st.Funcs {
		f.Dead = dead[f.Func]
		funcs = append(funcs, f)
	}
	for fn, n := range dead {
		if _, found := slices.BinarySearchFunc(st.Funcs, fn, func(f store.ClusterFunc, fn string) int { return strings.Compare(f.Func, fn) }); !found {
			funcs = append(funcs, store.ClusterFunc{Func: fn, Dead: n})
		}
	}
	slices.SortFunc(funcs, func(a, b store.ClusterFunc) int { return strings.Compare(a.Func, b.Func) })
	st.Funcs = funcs
	return st, nil
}

// clusterJobs returns the count of the shared queue's jobs and the
// servers, at most clusterFresh old.
func (l *Log) clusterJobs(ctx context.Context) (store.ClusterStatus, error) {
	l.clusterMu.Lock()
	defer l.clusterMu.Unlock()
	if !l.clusterAt.IsZero() && time.Since(l.clusterAt) < clusterFresh {
		return l.clusterLast, nil
	}
	st, err := l.countCluster(ctx)
	if err != nil {
		return store.ClusterStatus{}, &store.WriteError{Where: l.where + " (counting the cluster)", Err: err}
	}
	l.clusterAt, l.clusterLast = time.Now(), st
	return st, nil
}

// DeadCounts implements store.ClusterCounter. The map it returns is
// shared with later callers: it must not be changed.
func (l *Log) DeadCounts(ctx context.Context) (map[string]int, error) {
	l.deadMu.Lock()
	defer l.deadMu.Unlock()
	gen := l.deadGen.Load()
	if !l.deadAt.IsZero() && time.Since(l.deadAt) < clusterFresh && gen == l.deadCounted {
		return l.deadLast, nil
	}
	rows, err := l.lookups.Query(ctx, sqlClusterDead)
	if err != nil {
		return nil, &store.WriteError{Where: l.where + " (counting the dead letters)", Err: err}
	}
	m := map[string]int{}
	var (
		fn []byte
		n  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&fn, &n}, func() error {
		m[string(fn)] = n
		return nil
	}); err != nil {
		return nil, &store.WriteError{Where: l.where + " (counting the dead letters)", Err: err}
	}
	l.deadAt, l.deadCounted, l.deadLast = time.Now(), gen, m
	return m, nil
}

// countCluster counts the shared queue's jobs and lists the servers, in
// one snapshot.
func (l *Log) countCluster(ctx context.Context) (store.ClusterStatus, error) {
	st := store.ClusterStatus{Time: time.Now()}
	byFn := map[string]*store.ClusterFunc{}
	get := func(fn []byte) *store.ClusterFunc {
		f := byFn[string(fn)]
		if f == nil {
			f = &store.ClusterFunc{Func: string(fn)}
			byFn[f.Func] = f
		}
		return f
	}
	err := pgx.BeginTxFunc(ctx, l.lookups, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlClusterJobs)
		if err != nil {
			return err
		}
		var (
			fn                             []byte
			queued, held, running, waiting int
		)
		if _, err := pgx.ForEachRow(rows, []any{&fn, &queued, &held, &running, &waiting}, func() error {
			f := get(fn)
			f.Queued, f.Held, f.Running, f.Waiting = queued, held, running, waiting
			return nil
		}); err != nil {
			return err
		}
		var n store.ClusterNode
		rows, err = tx.Query(ctx, sqlClusterNodes)
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.Lease, &n.Started}, func() error {
			n.Self = n.ID == l.node
			st.Nodes = append(st.Nodes, n)
			return nil
		})
		return err
	})
	if err != nil {
		return store.ClusterStatus{}, err
	}
	for _, f := range byFn {
		st.Funcs = append(st.Funcs, *f)
	}
	slices.SortFunc(st.Funcs, func(a, b store.ClusterFunc) int { return strings.Compare(a.Func, b.Func) })
	return st, nil
}
