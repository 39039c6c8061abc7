package pgstore_test

import (
	"testing"

	"github.com/seed749d6d6d/gearman/internal/pgstore"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

// TestOpenMigratesVersion1: a database a version-1 server made, with a
// job queued, is migrated to version 2 at open; the job keeps its row,
// with no failures, and the dead letters' table is there, empty.
func TestOpenMigratesVersion1(t *testing.T) {
	url := pgtest.Start(t)
	pgtest.Exec(t, url, `CREATE TABLE gearman_schema (version integer NOT NULL); INSERT INTO gearman_schema VALUES (1)`)
	pgtest.Exec(t, url, pgstore.Migrations[1])
	pgtest.Exec(t, url, `INSERT INTO gearman_job (id, fn, data, priority, created) VALUES (7, 'f', 'payload', 1, 5)`)
	l, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	if v := pgtest.Value[int32](t, url, "SELECT version FROM gearman_schema"); v != 2 {
		t.Fatalf("schema version %d after the migration; want 2", v)
	}
	if got := pgtest.Value[string](t, url, "SELECT encode(data, 'escape') || ' ' || failures || ' ' || octet_length(last_error) FROM gearman_job WHERE id = 7"); got != "payload 0 0" {
		t.Errorf("the queued job after the migration: %q; want payload, no failures", got)
	}
	if n := pgtest.Value[int64](t, url, "SELECT count(*) FROM gearman_dead_letters"); n != 0 {
		t.Errorf("%d dead letters after the migration; want 0", n)
	}
}
