package pgstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jpillora/backoff"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// recKind is what a queued record says.
type recKind uint8

const (
	recCreate   recKind = iota // a new job
	recAssign                  // a worker took it
	recRequeue                 // its attempt was lost; queued again
	recRunEnd                  // a scheduled job's run ended; it waits for n
	recRelease                 // given back to the cluster
	recFinish                  // gone
	recProgress                // a running job's WORK_STATUS: n/d
	recFailed                  // its attempt failed: free again, to run at job.When (deadletters.go)
	recBury                    // a dead letter: out of the queue, into gearman_dead (deadletters.go)
)

// rec is one queued record.
type rec struct {
	kind recKind
	id   uint64
	n    int64      // recRequeue: retries; recRunEnd: the next run; recProgress: numerator
	d    int64      // recProgress: denominator
	job  *store.Job // recCreate, recFailed, recBury
}

// batch is the commit of the creates of one write.
type batch struct {
	done     chan struct{}
	err      error
	existing map[uint64]uint64 // coalesced: new id -> the job already queued
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// commit is one create's store.Commit and store.Coalesced.
type commit struct {
	b  *batch
	id uint64
}

func (c commit) Done() <-chan struct{} { return c.b.done }
func (c commit) Err() error            { return c.b.err }
func (c commit) Existing() uint64      { return c.b.existing[c.id] }

// Created implements store.Log.
func (l *Log) Created(j store.Job, _ uint64) (store.Ref, store.Commit) {
	jp := new(store.Job)
	*jp = j
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.cur
	if l.closed {
		b = newBatch()
		b.err = store.ErrClosed
		close(b.done)
		return store.Ref{}, commit{b, j.ID}
	}
	if j.Dead {
		// A scheduled run's copy, buried at once (nobody waits for it).
		l.queue(rec{kind: recBury, id: j.ID, job: jp})
		b = newBatch()
		close(b.done)
		return store.Ref{}, commit{b, j.ID}
	}
	l.queue(rec{kind: recCreate, id: j.ID, job: jp})
	return store.Ref{}, commit{b, j.ID}
}

// Failed implements store.Log: a job to retry is freed in the shared
// queue with its failures, to run at j.When; a dead letter moves to
// gearman_dead.
func (l *Log) Failed(ref store.Ref, j store.Job) store.Ref {
	jp := new(store.Job)
	*jp = j
	kind := recFailed
	if j.Dead {
		kind = recBury
	}
	l.record(rec{kind: kind, id: j.ID, job: jp})
	return ref
}

// Assigned implements store.Log.
func (l *Log) Assigned(_ store.Ref, id uint64) { l.record(rec{kind: recAssign, id: id}) }

// Requeued implements store.Log.
func (l *Log) Requeued(ref store.Ref, id uint64, retries int32) store.Ref {
	l.record(rec{kind: recRequeue, id: id, n: int64(retries)})
	return ref
}

// RunEnded implements store.Log.
func (l *Log) RunEnded(_ store.Ref, id uint64, next int64) {
	l.record(rec{kind: recRunEnd, id: id, n: next})
}

// Finished implements store.Log.
func (l *Log) Finished(_ store.Ref, id uint64) { l.record(rec{kind: recFinish, id: id}) }

// Release implements store.Shared.
func (l *Log) Release(ids []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.queue(rec{kind: recRelease, id: id})
	}
}

// Progress implements store.Shared.
func (l *Log) Progress(id uint64, num, den int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.progress == nil {
		l.progress = make(map[uint64][2]int64)
	}
	l.progress[id] = [2]int64{num, den}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// record queues r.
func (l *Log) record(r rec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue(r)
}

// queue queues r for the committer. l.mu held.
func (l *Log) queue(r rec) {
	if l.closed {
		return
	}
	l.recs = append(l.recs, r)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// writeTimeout bounds one write.
const writeTimeout = 15 * time.Second

// commitLoop is the committer: it writes every queued record, many per
// transaction. When a write fails, its creates fail (their submits are
// refused) and its other records are kept and written again, with
// backoff, until the database takes them; meanwhile Healthy reports the
// error, so new submits are refused at once.
func (l *Log) commitLoop() {
	defer l.wg.Done()
	bo := &backoff.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: true}
	for {
		select {
		case <-l.kick:
		case <-l.quit:
			return
		}
		for {
			recs, b := l.take()
			var err error
			if len(recs) > 0 || l.isBroken() {
				ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
				if len(recs) > 0 {
					err = l.writeRetrying(ctx, recs, b)
				} else {
					err = l.pool.Ping(ctx)
				}
				cancel()
			}
			l.settle(recs, b, err)
			if err == nil {
				if bo.Attempt() > 0 {
					l.log.Info("store: writing again", "where", l.where)
				}
				bo.Reset()
				if len(recs) == 0 {
					break
				}
				continue
			}
			if bo.Attempt() == 0 {
				l.log.Error("store: write failed; submits refused until it works again", "where", l.where, "err", err)
			}
			select {
			case <-time.After(bo.Duration()):
			case <-l.quit:
				return
			}
		}
	}
}

// writeRetrying is write, done again at once when PostgreSQL aborted it
// for a deadlock or a serialization failure: nothing of it was written.
func (l *Log) writeRetrying(ctx context.Context, recs []rec, b *batch) error {
	for attempt := 1; ; attempt++ {
		err := l.write(ctx, recs, b)
		var pe *pgconn.PgError
		if attempt == 3 || !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
}

// take takes every queued record, and the commit of their creates.
func (l *Log) take() ([]rec, *batch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, b := l.recs, l.cur
	l.recs = nil
	for id, p := range l.progress {
		recs = append(recs, rec{kind: recProgress, id: id, n: p[0], d: p[1]})
	}
	clear(l.progress)
	if b != nil && slices.ContainsFunc(recs, func(r rec) bool { return r.kind == recCreate }) {
		l.cur = newBatch()
	} else {
		b = nil
	}
	return recs, b
}

// isBroken reports whether the last write failed.
func (l *Log) isBroken() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken != nil
}

// settle ends a write: its creates' commit is done, and after a failure
// its other records go back to the head of the queue.
func (l *Log) settle(recs []rec, b *batch, err error) {
	l.mu.Lock()
	l.broken = err
	if err != nil {
		var again []rec
		for _, r := range recs {
			if r.kind != recCreate {
				again = append(again, r)
			}
		}
		l.recs = append(again, l.recs...)
	}
	l.mu.Unlock()
	if b != nil {
		if err != nil {
			b.err = &store.WriteError{Where: l.where, Err: err}
		}
		close(b.done)
	}
}

// flush writes what is queued, once, at Close.
func (l *Log) flush(ctx context.Context) error {
	recs, b := l.take()
	var err error
	if len(recs) > 0 {
		err = l.write(ctx, recs, b)
	}
	if b != nil {
		if err != nil {
			b.err = &store.WriteError{Where: l.where, Err: err}
		}
		close(b.done)
	}
	return err
}

// The statements of a write. Every write is one pipelined batch: one round
// trip, one transaction, one commit.
const (
	sqlInsert = `
INSERT INTO gearman_job (id, fn, uniq, ukey, data, reducer, priority, run_at, schedule, retries, created, owner)
SELECT u.id, u.fn, u.uniq, u.ukey, u.data, u.reducer, u.priority, u.run_at, u.schedule, u.retries, u.created,
	CASE WHEN u.held THEN $13::bigint END
FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[], $7::smallint[],
	$8::bigint[], $9::text[], $10::integer[], $11::bigint[], $12::boolean[])
	WITH ORDINALITY AS u(id, fn, uniq, ukey, data, reducer, priority, run_at, schedule, retries, created, held, ord)
ORDER BY u.ord
ON CONFLICT (fn, ukey) WHERE ukey IS NOT NULL DO NOTHING
RETURNING id`

	sqlCoalesced = `
SELECT u.id, j.id FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS u(id, fn, ukey)
JOIN gearman_job j ON j.fn = u.fn AND j.ukey = u.ukey WHERE j.id <> u.id`

	sqlNotify = `SELECT count(pg_notify('gearman_job', encode(f, 'hex'))) FROM (SELECT DISTINCT f FROM unnest($1::bytea[]) f) d`

	sqlRunning = `
UPDATE gearman_job j SET running = u.running,
	retries = CASE WHEN u.setr THEN u.retries ELSE j.retries END,
	num = CASE WHEN u.setr THEN 0 ELSE j.num END,
	den = CASE WHEN u.setr THEN 0 ELSE j.den END,
	enq = CASE WHEN u.setr THEN nextval('gearman_enq') ELSE j.enq END
FROM unnest($1::bigint[], $2::boolean[], $3::integer[], $4::boolean[]) AS u(id, running, retries, setr)
WHERE j.id = u.id`

	sqlRunEnd = `
UPDATE gearman_job j SET running = false, owner = NULL, run_at = u.next
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, next) WHERE j.id = u.id`

	sqlRelease = `
WITH r AS (UPDATE gearman_job SET owner = NULL WHERE id = ANY($1) AND owner = $2 RETURNING fn)
SELECT count(pg_notify('gearman_job', encode(fn, 'hex'))) FROM (SELECT DISTINCT fn FROM r) d`

	sqlFinish = `DELETE FROM gearman_job WHERE id = ANY($1)`

	sqlProgress = `
UPDATE gearman_job j SET num = u.num, den = u.den
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, num, den) WHERE j.id = u.id`

	// sqlAsync makes the transaction commit without waiting for its WAL
	// to reach the disk.
	sqlAsync = `SELECT set_config('synchronous_commit', 'off', true)`
)

// runState is the folded assign/requeue records of one job in a write.
type runState struct {
	running bool
	retries int32
	setr    bool
}

// write writes recs in one transaction and fills b's coalesced jobs.
func (l *Log) write(ctx context.Context, recs []rec, b *batch) error {
	var (
		ins                             insertCols
		notify                          [][]byte
		keyIDs                          []int64
		keyFns, keys                    [][]byte
		runIDs                          []int64
		run                             = map[uint64]*runState{}
		endIDs, endNext, relIDs, finIDs []int64
		progIDs, progNum, progDen       []int64
		runRunning, runSetr             []bool
		runRetries                      []int32
		fails, dead                     failCols
	)
	now := time.Now().Unix()
	for _, r := range recs {
		switch r.kind {
		case recCreate:
			j := r.job
			key := coalescingKey(j)
			ins.add(j, key)
			if key != nil {
				keyIDs = append(keyIDs, int64(j.ID))
				keyFns = append(keyFns, []byte(j.Func))
				keys = append(keys, key)
			}
			if !j.Held && j.When <= now {
				notify = append(notify, []byte(j.Func))
			}
		case recAssign, recRequeue:
			st := run[r.id]
			if st == nil {
				st = &runState{}
				run[r.id] = st
				runIDs = append(runIDs, int64(r.id))
			}
			st.running = r.kind == recAssign
			if r.kind == recRequeue {
				st.retries, st.setr = int32(r.n), true
			}
		case recRunEnd:
			endIDs = append(endIDs, int64(r.id))
			endNext = append(endNext, r.n)
		case recRelease:
			relIDs = append(relIDs, int64(r.id))
		case recFinish:
			finIDs = append(finIDs, int64(r.id))
		case recFailed:
			fails.add(r.job)
			if r.job.When <= now {
				notify = append(notify, []byte(r.job.Func))
			}
		case recBury:
			dead.add(r.job)
		case recProgress:
			progIDs = append(progIDs, int64(r.id))
			progNum = append(progNum, r.n)
			progDen = append(progDen, r.d)
		}
	}
	// Rows are locked in id order, so that two writes (of two servers)
	// cannot deadlock on each other's rows.
	slices.Sort(runIDs)
	slices.Sort(relIDs)
	slices.Sort(finIDs)
	sortTriples(endIDs, endNext, nil)
	for _, id := range runIDs {
		st := run[uint64(id)]
		runRunning = append(runRunning, st.running)
		runRetries = append(runRetries, st.retries)
		runSetr = append(runSetr, st.setr)
	}

	var q pgx.Batch
	if len(ins.id) == 0 {
		// Nothing here needs to wait for the disk: a lost assignment,
		// release or end after a crash of PostgreSQL makes a job run
		// once more, which at-least-once allows (creates, which a submit
		// waits for, always commit synchronously).
		q.Queue(sqlAsync)
	}
	inserted := 0
	if len(ins.id) > 0 {
		q.Queue(sqlInsert, ins.id, ins.fn, ins.uniq, ins.ukey, ins.data, ins.reducer, ins.prio,
			ins.runAt, ins.sched, ins.retries, ins.created, ins.held, l.node).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				inserted++
			}
			return rows.Err()
		})
	}
	if len(runIDs) > 0 {
		q.Queue(sqlRunning, runIDs, runRunning, runRetries, runSetr)
	}
	if len(endIDs) > 0 {
		q.Queue(sqlRunEnd, endIDs, endNext)
	}
	if len(relIDs) > 0 {
		q.Queue(sqlRelease, relIDs, l.node)
	}
	if len(progIDs) > 0 {
		sortTriples(progIDs, progNum, progDen)
		q.Queue(sqlProgress, progIDs, progNum, progDen)
	}
	if len(fails.id) > 0 {
		fails.sort()
		q.Queue(sqlFailed, fails.id, fails.runAt, fails.failures, fails.lastErr, fails.first, fails.last)
	}
	if len(finIDs) > 0 {
		q.Queue(sqlFinish, finIDs)
	}
	if len(dead.id) > 0 {
		dead.sort()
		q.Queue(sqlBury, dead.id, dead.fn, dead.uniq, dead.data, dead.reducer, dead.prio, dead.retries, dead.created,
			dead.failures, dead.lastErr, dead.first, dead.last)
		q.Queue(sqlDeadBound, l.maxDead())
	}
	if len(notify) > 0 {
		q.Queue(sqlNotify, notify)
	}
	if q.Len() == 0 || (q.Len() == 1 && len(ins.id) == 0) {
		return nil
	}
	if err := l.pool.SendBatch(ctx, &q).Close(); err != nil {
		return err
	}
	if len(dead.id) > 0 {
		l.deadGen.Add(1) // the cached counts are out of date (cluster.go)
	}
	if inserted < len(ins.id) {
		// Some jobs were in the queue already (a unique id anywhere in
		// the cluster): find them, for the submits' answers. They are
		// durable; if one ended meanwhile, the answer names a job that
		// ran, as it would have a moment earlier.
		return l.coalesced(ctx, keyIDs, keyFns, keys, b)
	}
	return nil
}

// coalesced fills b.existing with the jobs that the new jobs ids (with
// their functions and keys) coalesced with.
func (l *Log) coalesced(ctx context.Context, ids []int64, fns, keys [][]byte, b *batch) error {
	rows, err := l.pool.Query(ctx, sqlCoalesced, ids, fns, keys)
	if err != nil {
		return err
	}
	var id, existing int64
	_, err = pgx.ForEachRow(rows, []any{&id, &existing}, func() error {
		if b.existing == nil {
			b.existing = make(map[uint64]uint64)
		}
		b.existing[uint64(id)] = uint64(existing)
		return nil
	})
	return err
}

// sortTriples sorts ids, and a and b (if not nil) with them.
func sortTriples(ids, a, b []int64) {
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(ids[x], ids[y]) })
	ids2, a2, b2 := slices.Clone(ids), slices.Clone(a), slices.Clone(b)
	for i, k := range idx {
		ids[i], a[i] = ids2[k], a2[k]
		if b != nil {
			b[i] = b2[k]
		}
	}
}

// insertCols are the columns of the inserted jobs.
type insertCols struct {
	id, runAt, created            []int64
	fn, uniq, ukey, data, reducer [][]byte
	prio                          []int16
	sched                         []string
	retries                       []int32
	held                          []bool
}

func (c *insertCols) add(j *store.Job, key []byte) {
	c.id = append(c.id, int64(j.ID))
	c.fn = append(c.fn, notNil([]byte(j.Func)))
	c.uniq = append(c.uniq, notNil([]byte(j.Unique)))
	c.ukey = append(c.ukey, key)
	c.data = append(c.data, notNil(j.Data))
	c.reducer = append(c.reducer, notNil([]byte(j.Reducer)))
	c.prio = append(c.prio, int16(j.Priority))
	c.runAt = append(c.runAt, j.When)
	c.sched = append(c.sched, j.Schedule)
	c.retries = append(c.retries, j.Retries)
	c.created = append(c.created, j.Created)
	c.held = append(c.held, j.Held)
}

// notNil returns b, or an empty slice for nil (which would be SQL NULL).
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// coalescingKey returns the key under which j coalesces with other jobs of
// its function (nil: none): its unique id, or for gearmand's "-" a NUL
// and the SHA-256 of its payload (a unique id cannot hold a NUL).
func coalescingKey(j *store.Job) []byte {
	switch {
	case j.Unique == "":
		return nil
	case j.Unique == "-":
		if len(j.Data) == 0 {
			return nil
		}
		sum := sha256.Sum256(j.Data)
		return append([]byte{0}, sum[:]...)
	}
	return []byte(j.Unique)
}
