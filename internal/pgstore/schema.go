package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema, by version. A server migrates the database to the newest
// version it knows at start, under an advisory lock, so several servers
// starting at once migrate it once. gearman_schema holds the version.
//
// gearman_job holds one row per stored background job:
//
//	id        the number in the job's handle; unique in the cluster
//	          (a server's node number << 40, plus its own count)
//	fn        the function name (bytea: a Gearman name need not be UTF-8)
//	uniq      the unique id as submitted ('' = none)
//	ukey      the coalescing key: uniq, or for gearmand's "-" a NUL and
//	          the SHA-256 of the payload; NULL = does not coalesce
//	data      the payload
//	reducer   a background reduce job's reducer, else ''
//	priority  0 high, 1 normal, 2 low
//	run_at    Unix seconds before which it does not run (epoch jobs, and a
//	          scheduled job's next run); 0 = now
//	schedule  a scheduled job's five cron fields, else ''
//	retries   attempts lost so far
//	created   Unix nanoseconds of the first submit
//	enq       its place in its queue (lower runs first, within a priority)
//	owner     the node that holds it (claimed, or created held); NULL = free
//	running   a worker has it (an expired lease then counts a lost attempt)
//	num, den  its running attempt's last WORK_STATUS
//
// gearman_node holds one row per server that opened the store: its node
// number, until when its lease on the jobs it owns holds unless renewed,
// and when it started. A job whose owner's lease has run out is free.
// Rows of nodes whose leases ran out a day ago are deleted.
//
// gearman_jobs is a view of the jobs for people: text columns, no payload.
//
// Version 2 adds failures (store.Job.Failures): to gearman_job the columns
// failures, last_error (bytea: an exception's data need not be text),
// first_failed and last_failed (Unix nanoseconds), and the table
// gearman_dead of dead letters, the cluster's: a dead letter's job
// columns, its failures, and buried, its place in the list (oldest
// lowest). gearman_dead_letters is its view for people.
var migrations = []string{
	1: `
CREATE SEQUENCE gearman_node_seq;
CREATE SEQUENCE gearman_enq;
CREATE TABLE gearman_node (
	id      bigint PRIMARY KEY,
	lease   timestamptz NOT NULL,
	started timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE gearman_job (
	id       bigint PRIMARY KEY,
	fn       bytea NOT NULL,
	uniq     bytea NOT NULL DEFAULT '',
	ukey     bytea,
	data     bytea NOT NULL,
	reducer  bytea NOT NULL DEFAULT '',
	priority smallint NOT NULL,
	run_at   bigint NOT NULL DEFAULT 0,
	schedule text NOT NULL DEFAULT '',
	retries  integer NOT NULL DEFAULT 0,
	created  bigint NOT NULL,
	enq      bigint NOT NULL DEFAULT nextval('gearman_enq'),
	owner    bigint,
	running  boolean NOT NULL DEFAULT false,
	num      bigint NOT NULL DEFAULT 0,
	den      bigint NOT NULL DEFAULT 0
);
-- A queue's rows change all the time: vacuum it often, and leave room in
-- its pages for updates that need no new index entries.
ALTER TABLE gearman_job SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
CREATE UNIQUE INDEX gearman_job_ukey ON gearman_job (fn, ukey) WHERE ukey IS NOT NULL;
CREATE INDEX gearman_job_free ON gearman_job (fn, priority, enq) WHERE owner IS NULL;
CREATE INDEX gearman_job_owner ON gearman_job (owner) WHERE owner IS NOT NULL;
CREATE INDEX gearman_job_uniq ON gearman_job (uniq) WHERE uniq <> '';
CREATE VIEW gearman_jobs AS
	SELECT id, encode(fn, 'escape') AS function, encode(uniq, 'escape') AS unique_id,
		CASE priority WHEN 0 THEN 'high' WHEN 1 THEN 'normal' ELSE 'low' END AS priority,
		CASE WHEN run_at > 0 THEN to_timestamp(run_at) END AS run_at,
		schedule, retries, to_timestamp(created / 1e9) AS created,
		octet_length(data) AS size, owner, running, num, den
	FROM gearman_job;
`,
	2: `
ALTER TABLE gearman_job
	ADD COLUMN failures integer NOT NULL DEFAULT 0,
	ADD COLUMN last_error bytea NOT NULL DEFAULT '',
	ADD COLUMN first_failed bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_failed bigint NOT NULL DEFAULT 0;
CREATE TABLE gearman_dead (
	id           bigint PRIMARY KEY,
	fn           bytea NOT NULL,
	uniq         bytea NOT NULL DEFAULT '',
	data         bytea NOT NULL,
	reducer      bytea NOT NULL DEFAULT '',
	priority     smallint NOT NULL,
	retries      integer NOT NULL DEFAULT 0,
	created      bigint NOT NULL,
	failures     integer NOT NULL,
	last_error   bytea NOT NULL,
	first_failed bigint NOT NULL,
	last_failed  bigint NOT NULL,
	buried       bigint NOT NULL DEFAULT nextval('gearman_enq')
);
CREATE INDEX gearman_dead_buried ON gearman_dead (buried);
CREATE INDEX gearman_dead_fn ON gearman_dead (fn, buried);
CREATE VIEW gearman_dead_letters AS
	SELECT id, encode(fn, 'escape') AS function, encode(uniq, 'escape') AS unique_id,
		failures, encode(last_error, 'escape') AS last_error,
		to_timestamp(first_failed / 1e9) AS first_failed, to_timestamp(last_failed / 1e9) AS last_failed,
		octet_length(data) AS size
	FROM gearman_dead;
`,
}

// SchemaVersion is the newest schema version this package knows.
const SchemaVersion = 2

// migrate brings the database's schema to SchemaVersion.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7466117001)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS gearman_schema (version integer NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM gearman_schema`).Scan(&v)
		switch {
		case err == pgx.ErrNoRows:
			if _, err := tx.Exec(ctx, `INSERT INTO gearman_schema VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: the database has version %d, this server knows up to %d", ErrSchemaTooNew, v, SchemaVersion)
		}
		for v < SchemaVersion {
			v++
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrating to version %d: %w", v, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE gearman_schema SET version = $1`, v)
		return err
	})
}
