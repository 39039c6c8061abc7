package pgstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// This file is the cluster's failed jobs: a job whose attempt failed and
// that is retried waits, free, in gearman_job with its failures and its
// retry's time as run_at, so any server retries it; a dead letter is a row
// of gearman_dead (schema version 2), which every server of the cluster
// lists, retries and purges (store.DeadLetters). The list is bounded: past
// the bound (the servers' Config.MaxDeadLetters, through LimitDead) the
// oldest rows are deleted as new ones come.

// defaultMaxDead is the bound until LimitDead sets one.
const defaultMaxDead = 10000

const (
	sqlFailed = `
UPDATE gearman_job j SET running = false, owner = NULL, num = 0, den = 0, run_at = u.run_at,
	failures = u.failures, last_error = u.last_error, first_failed = u.first_failed, last_failed = u.last_failed,
	enq = nextval('gearman_enq')
FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::bytea[], $5::bigint[], $6::bigint[])
	AS u(id, run_at, failures, last_error, first_failed, last_failed)
WHERE j.id = u.id`

	sqlBury = `
WITH gone AS (DELETE FROM gearman_job WHERE id = ANY($1))
INSERT INTO gearman_dead (id, fn, uniq, data, reducer, priority, retries, created, failures, last_error, first_failed, last_failed)
SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::smallint[], $7::integer[],
	$8::bigint[], $9::integer[], $10::bytea[], $11::bigint[], $12::bigint[])
ON CONFLICT (id) DO UPDATE SET failures = excluded.failures, last_error = excluded.last_error,
	last_failed = excluded.last_failed, buried = nextval('gearman_enq')`

	sqlDeadBound = `
DELETE FROM gearman_dead WHERE id IN (SELECT id FROM gearman_dead ORDER BY buried DESC OFFSET $1)`

	sqlDeadList = `
SELECT id, fn, uniq, data, reducer, priority, retries, created, failures, last_error, first_failed, last_failed
FROM gearman_dead WHERE $1::bytea = '' OR fn = $1 ORDER BY buried LIMIT $2`

	sqlDeadCount = `SELECT count(*) FROM gearman_dead WHERE $1::bytea = '' OR fn = $1`

	// sqlRevive moves dead letters back into the queue, their failures
	// and lost attempts reset but their last error kept; one whose unique
	// id is queued again meanwhile stays a dead letter (the insert skips
	// it).
	sqlRevive = `
WITH picked AS (
	SELECT * FROM gearman_dead
	WHERE ($1::bigint = 0 OR id = $1) AND ($2::bytea = '' OR fn = $2)
	FOR UPDATE),
ins AS (
	INSERT INTO gearman_job (id, fn, uniq, ukey, data, reducer, priority, retries, created, last_error, first_failed, last_failed)
	SELECT id, fn, uniq,
		CASE WHEN uniq = '' THEN NULL
			WHEN uniq = '-' THEN CASE WHEN data = '' THEN NULL ELSE '\x00'::bytea || sha256(data) END
			ELSE uniq END,
		data, reducer, priority, 0, created, last_error, first_failed, last_failed
	FROM picked ORDER BY buried
	ON CONFLICT (fn, ukey) WHERE ukey IS NOT NULL DO NOTHING
	RETURNING id, fn),
del AS (DELETE FROM gearman_dead WHERE id IN (SELECT id FROM ins))
SELECT (SELECT count(*) FROM ins),
	(SELECT count(pg_notify('gearman_job', encode(f, 'hex'))) FROM (SELECT DISTINCT fn AS f FROM ins) d)`

	sqlPurge = `
DELETE FROM gearman_dead WHERE ($1::bigint = 0 OR id = $1) AND ($2::bytea = '' OR fn = $2)`
)

// failCols are the columns of failed jobs in one write.
type failCols struct {
	id, runAt, created, first, last  []int64
	fn, uniq, data, reducer, lastErr [][]byte
	prio                             []int16
	retries, failures                []int32
}

func (c *failCols) add(j *store.Job) {
	c.id = append(c.id, int64(j.ID))
	c.runAt = append(c.runAt, j.When)
	c.created = append(c.created, j.Created)
	c.first = append(c.first, j.FirstFailed)
	c.last = append(c.last, j.LastFailed)
	c.fn = append(c.fn, notNil([]byte(j.Func)))
	c.uniq = append(c.uniq, notNil([]byte(j.Unique)))
	c.data = append(c.data, notNil(j.Data))
	c.reducer = append(c.reducer, notNil([]byte(j.Reducer)))
	c.lastErr = append(c.lastErr, notNil([]byte(j.Error)))
	c.prio = append(c.prio, int16(j.Priority))
	c.retries = append(c.retries, j.Retries)
	c.failures = append(c.failures, j.Failures)
}

// sort orders the rows by id (rows are locked in id order: see write),
// keeping the last of several rows of one id.
func (c *failCols) sort() {
	idx := make([]int, 0, len(c.id))
	last := map[int64]int{}
	for i, id := range c.id {
		if k, ok := last[id]; ok {
			idx[k] = i
			continue
		}
		last[id] = len(idx)
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(c.id[a], c.id[b]) })
	var out failCols
	for _, i := range idx {
		out.id = append(out.id, c.id[i])
		out.runAt = append(out.runAt, c.runAt[i])
		out.created = append(out.created, c.created[i])
		out.first = append(out.first, c.first[i])
		out.last = append(out.last, c.last[i])
		out.fn = append(out.fn, c.fn[i])
		out.uniq = append(out.uniq, c.uniq[i])
		out.data = append(out.data, c.data[i])
		out.reducer = append(out.reducer, c.reducer[i])
		out.lastErr = append(out.lastErr, c.lastErr[i])
		out.prio = append(out.prio, c.prio[i])
		out.retries = append(out.retries, c.retries[i])
		out.failures = append(out.failures, c.failures[i])
	}
	*c = out
}

// LimitDead implements store.DeadLetters.
func (l *Log) LimitDead(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deadMax = n
}

// maxDead returns the dead-letter list's bound.
func (l *Log) maxDead() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadMax <= 0 {
		return defaultMaxDead
	}
	return l.deadMax
}

// ListDead implements store.DeadLetters.
func (l *Log) ListDead(ctx context.Context, fn string, limit int) ([]store.Job, int, error) {
	if limit <= 0 {
		limit = l.maxDead()
	}
	var total int
	if err := l.lookups.QueryRow(ctx, sqlDeadCount, notNil([]byte(fn))).Scan(&total); err != nil {
		return nil, 0, l.lookupError(err)
	}
	rows, err := l.lookups.Query(ctx, sqlDeadList, notNil([]byte(fn)), limit)
	if err != nil {
		return nil, 0, l.lookupError(err)
	}
	var (
		out                               []store.Job
		j                                 store.Job
		id                                int64
		fnb, uniq, data, reducer, lastErr []byte
		prio                              int16
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &fnb, &uniq, &data, &reducer, &prio, &j.Retries, &j.Created,
		&j.Failures, &lastErr, &j.FirstFailed, &j.LastFailed}, func() error {
		j.ID, j.Func, j.Unique, j.Reducer, j.Priority, j.Error = uint64(id), string(fnb), string(uniq), string(reducer), int8(prio), string(lastErr)
		j.Data = slices.Clone(data)
		j.Dead = true
		out = append(out, j)
		return nil
	})
	if err != nil {
		return nil, 0, l.lookupError(err)
	}
	return out, total, nil
}

// ReviveDead implements store.DeadLetters.
func (l *Log) ReviveDead(ctx context.Context, id uint64, fn string) (int, error) {
	var n, notified int
	if err := l.lookups.QueryRow(ctx, sqlRevive, int64(id), notNil([]byte(fn))).Scan(&n, &notified); err != nil {
		return 0, l.lookupError(err)
	}
	l.deadGen.Add(1)
	return n, nil
}

// PurgeDead implements store.DeadLetters.
func (l *Log) PurgeDead(ctx context.Context, id uint64, fn string) (int, error) {
	tag, err := l.lookups.Exec(ctx, sqlPurge, int64(id), notNil([]byte(fn)))
	if err != nil {
		return 0, l.lookupError(err)
	}
	l.deadGen.Add(1)
	return int(tag.RowsAffected()), nil
}

// lookupError wraps the error of a dead-letter query.
func (l *Log) lookupError(err error) error {
	return &store.WriteError{Where: l.where + " (dead letters)", Err: err}
}
