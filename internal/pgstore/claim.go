package pgstore

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jpillora/backoff"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// maxClaim bounds the jobs of one claim.
const maxClaim = 256

// Want implements store.Shared.
func (l *Log) Want(fn string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 {
		delete(l.wants, fn)
		return
	}
	l.wants[fn] = n
	if !l.dry[fn] {
		l.kickClaimer()
	}
}

// kickClaimer wakes the claimer. l.mu held or not.
func (l *Log) kickClaimer() {
	select {
	case l.claimKick <- struct{}{}:
	default:
	}
}

// due returns the functions to claim for now and how many of each: those
// not dry, or all wanted ones at a poll. It marks them claiming, so that a
// notification during the claim is not lost.
func (l *Log) due(poll bool) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m map[string]int
	for fn, n := range l.wants {
		if poll || !l.dry[fn] {
			if m == nil {
				m = make(map[string]int)
			}
			m[fn] = min(n, maxClaim)
			l.dry[fn] = false
			l.heard[fn] = false
		}
	}
	return m
}

// claimed ends a claim of fn that found got of the n it asked for: when
// it found fewer and no notification came meanwhile, fn is dry.
func (l *Log) claimed(fn string, n, got int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if got < n && !l.heard[fn] {
		l.dry[fn] = true
	}
	delete(l.heard, fn)
}

// claimLoop is the claimer.
func (l *Log) claimLoop() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.Poll)
	defer tick.Stop()
	failing := false
	for {
		poll := false
		select {
		case <-l.claimKick:
		case <-tick.C:
			poll = true
		case <-l.ctx.Done():
			return
		}
		for {
			fns := l.due(poll)
			if len(fns) == 0 {
				break
			}
			poll = false
			for fn, n := range fns {
				jobs, err := l.claim(fn, n)
				if err != nil {
					if !failing && l.ctx.Err() == nil {
						l.log.Error("store: claiming jobs failed; trying again at the next poll", "where", l.where, "function", fn, "err", err)
					}
					failing = true
					l.claimed(fn, n, 0)
					continue
				}
				failing = false
				l.claimed(fn, n, len(jobs))
				if len(jobs) > 0 && l.claimer != nil {
					l.claimer.Deliver(jobs)
				}
			}
		}
	}
}

const sqlClaim = `
WITH c AS (
	SELECT id, running FROM gearman_job
	WHERE fn = $1 AND owner IS NULL AND run_at <= floor(extract(epoch FROM now()))::bigint
	ORDER BY priority, enq LIMIT $2
	FOR UPDATE SKIP LOCKED)
UPDATE gearman_job j SET owner = $3, running = false, num = 0, den = 0,
	retries = j.retries + c.running::integer
FROM c WHERE j.id = c.id
RETURNING j.id, j.uniq, j.data, j.reducer, j.priority, j.run_at, j.schedule, j.retries, j.created, j.enq, c.running,
	j.failures, j.last_error, j.first_failed, j.last_failed`

// claim claims up to n jobs of fn for this node, in queue order.
func (l *Log) claim(fn string, n int) ([]*store.Job, error) {
	ctx, cancel := context.WithTimeout(l.ctx, writeTimeout)
	defer cancel()
	type claimed struct {
		j   *store.Job
		enq int64
	}
	var got []claimed
	// A claim commits without waiting for the disk: one lost in a crash
	// of PostgreSQL frees the job again, to run once more.
	var q pgx.Batch
	q.Queue(sqlAsync)
	q.Queue(sqlClaim, []byte(fn), n, l.node).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				j                   store.Job
				id, enq             int64
				uniq, reducer, data []byte
				lastErr             []byte
				prio                int16
			)
			if err := rows.Scan(&id, &uniq, &data, &reducer, &prio, &j.When, &j.Schedule, &j.Retries, &j.Created, &enq, &j.Lost,
				&j.Failures, &lastErr, &j.FirstFailed, &j.LastFailed); err != nil {
				return err
			}
			j.Error = string(lastErr)
			j.ID, j.Func, j.Unique, j.Data, j.Reducer, j.Priority = uint64(id), fn, string(uniq), data, string(reducer), int8(prio)
			j.Held = true
			got = append(got, claimed{&j, enq})
		}
		return rows.Err()
	})
	if err := l.pool.SendBatch(ctx, &q).Close(); err != nil {
		return nil, err
	}
	slices.SortFunc(got, func(a, b claimed) int {
		if a.j.Priority != b.j.Priority {
			return int(a.j.Priority) - int(b.j.Priority)
		}
		return int(a.enq - b.enq)
	})
	jobs := make([]*store.Job, len(got))
	for i, c := range got {
		jobs[i] = c.j
	}
	return jobs, nil
}

// listenLoop keeps a connection that listens for the cluster's
// notifications: jobs added or freed (payload: the function, hex), and
// jobs cancelled (payload: the id). After a reconnect every function is
// claimed for again, as notifications may have been missed.
func (l *Log) listenLoop() {
	defer l.wg.Done()
	bo := &backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: true}
	lost := false
	for l.ctx.Err() == nil {
		conn, err := pgx.Connect(l.ctx, l.url)
		if err == nil {
			_, err = conn.Exec(l.ctx, "LISTEN gearman_job; LISTEN gearman_cancel")
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			if !lost && l.ctx.Err() == nil {
				l.log.Error("store: listening for notifications failed; reconnecting", "where", l.where, "err", err)
			}
			lost = true
			select {
			case <-time.After(bo.Duration()):
			case <-l.ctx.Done():
			}
			continue
		}
		if lost {
			l.log.Info("store: listening for notifications again", "where", l.where)
			lost = false
		}
		bo.Reset()
		l.hearAll()
		for {
			n, err := conn.WaitForNotification(l.ctx)
			if err != nil {
				if l.ctx.Err() == nil {
					l.log.Error("store: notification connection lost; reconnecting", "where", l.where, "err", err)
					lost = true
				}
				break
			}
			l.hear(n.Channel, n.Payload)
		}
		conn.Close(context.Background())
	}
}

// hear handles one notification.
func (l *Log) hear(channel, payload string) {
	switch channel {
	case "gearman_job":
		fn, err := hex.DecodeString(payload)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.dry[string(fn)] = false
		if _, ok := l.heard[string(fn)]; ok {
			l.heard[string(fn)] = true
		}
		if l.wants[string(fn)] > 0 {
			l.kickClaimer()
		}
		l.mu.Unlock()
	case "gearman_cancel":
		id, err := strconv.ParseUint(payload, 10, 64)
		if err == nil && l.claimer != nil {
			l.claimer.Cancelled(id)
		}
	}
}

// hearAll makes every function due, as after a missed notification.
func (l *Log) hearAll() {
	l.mu.Lock()
	clear(l.dry)
	for fn := range l.heard {
		l.heard[fn] = true
	}
	l.mu.Unlock()
	l.kickClaimer()
}

const (
	sqlRenew = `UPDATE gearman_node SET lease = now() + make_interval(secs => $2) WHERE id = $1`
	sqlReap  = `
WITH r AS (
	UPDATE gearman_job j SET owner = NULL
	WHERE owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM gearman_node n WHERE n.id = j.owner AND n.lease >= now())
	RETURNING fn),
gone AS (DELETE FROM gearman_node WHERE lease < now() - interval '1 day')
SELECT count(pg_notify('gearman_job', encode(fn, 'hex'))) FROM (SELECT DISTINCT fn FROM r) d`
)

// leaseLoop renews this node's leases every third of a lease, and at
// every poll frees the jobs of nodes whose leases ran out. When renewing
// has failed for two thirds of a lease, it tells the engine to forget the
// queued jobs it holds, before other servers may claim them.
func (l *Log) leaseLoop() {
	defer l.wg.Done()
	tick := time.NewTicker(min(l.opts.Poll, l.opts.Lease/3))
	defer tick.Stop()
	renewed := time.Now()
	lost := false
	for {
		select {
		case <-tick.C:
		case <-l.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.Lease/2)
		if time.Since(renewed) >= l.opts.Lease/3 || lost {
			if _, err := l.pool.Exec(ctx, sqlRenew, l.node, l.opts.Lease.Seconds()); err == nil {
				renewed = time.Now()
				if lost {
					l.log.Info("store: leases renewed again", "where", l.where)
				}
				lost = false
			} else if !lost && time.Since(renewed) > l.opts.Lease*2/3 && l.ctx.Err() == nil {
				lost = true
				l.log.Error("store: leases not renewed in time; queued jobs given up to the cluster", "where", l.where, "err", err)
				if l.claimer != nil {
					l.claimer.LeaseLost()
				}
			}
		}
		if !l.isBroken() {
			// Not while this node's own records wait to be written: the
			// end of a job that ran during an outage must be written
			// before its expired lease frees it to run again.
			_, _ = l.pool.Exec(ctx, sqlReap)
		}
		cancel()
	}
}

// Status implements store.Shared.
func (l *Log) Status(ctx context.Context, id uint64) (store.JobStatus, error) {
	var st store.JobStatus
	err := l.lookups.QueryRow(ctx, `SELECT running AND owner IS NOT NULL, num, den FROM gearman_job WHERE id = $1`, int64(id)).Scan(&st.Running, &st.Num, &st.Den)
	return found(st, err)
}

// StatusUnique implements store.Shared.
func (l *Log) StatusUnique(ctx context.Context, unique string) (store.JobStatus, error) {
	var st store.JobStatus
	err := l.lookups.QueryRow(ctx, `SELECT running AND owner IS NOT NULL, num, den FROM gearman_job WHERE uniq = $1 ORDER BY enq LIMIT 1`, []byte(unique)).Scan(&st.Running, &st.Num, &st.Den)
	return found(st, err)
}

// found completes a status lookup.
func found(st store.JobStatus, err error) (store.JobStatus, error) {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.JobStatus{}, nil
	case err != nil:
		return store.JobStatus{}, &store.WriteError{Where: "reading the shared queue", Err: err}
	}
	st.Known = true
	return st, nil
}

const sqlCancel = `
WITH d AS (DELETE FROM gearman_job WHERE id = $1 RETURNING owner),
n AS (SELECT pg_notify('gearman_cancel', $2) FROM d WHERE owner IS NOT NULL)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM n)`

// Cancel implements store.Shared.
func (l *Log) Cancel(ctx context.Context, id uint64) (bool, error) {
	var deleted, notified int64
	err := l.lookups.QueryRow(ctx, sqlCancel, int64(id), strconv.FormatUint(id, 10)).Scan(&deleted, &notified)
	if err != nil {
		return false, &store.WriteError{Where: l.where, Err: err}
	}
	return deleted > 0, nil
}
