package pgstore_test

import (
	"maps"
	"testing"

	"github.com/seed749d6d6d/gearman/internal/pgstore"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

// buryOutside inserts a dead letter of fn as another server would.
func buryOutside(t *testing.T, url string, id int64, fn string) {
	t.Helper()
	pgtest.Exec(t, url, `INSERT INTO gearman_dead (id, fn, data, priority, created, failures, last_error, first_failed, last_failed)
		VALUES ($1, $2, '', 1, 0, 1, 'WORK_FAIL', 0, 0)`, id, []byte(fn))
}

// TestDeadCountsAreCachedUntilThisServerChangesThem: the cluster's
// dead-letter count is kept between calls (another server's new dead
// letter is not seen at once), and counted again once this server
// purges or retries some; ClusterStatus reports the same counts.
func TestDeadCountsAreCachedUntilThisServerChangesThem(t *testing.T) {
	url := pgtest.Start(t)
	l, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	buryOutside(t, url, 1001, "f")
	buryOutside(t, url, 1002, "g")
	want := map[string]int{"f": 1, "g": 1}
	if got, err := l.DeadCounts(t.Context()); err != nil || !maps.Equal(got, want) {
		t.Fatalf("DeadCounts = %v, %v; want %v", got, err, want)
	}
	buryOutside(t, url, 1003, "f") // another server's: seen within 5 s, not now
	if got, err := l.DeadCounts(t.Context()); err != nil || !maps.Equal(got, want) {
		t.Fatalf("DeadCounts at once after another server's dead letter = %v, %v; want the cached %v", got, err, want)
	}
	if n, err := l.PurgeDead(t.Context(), 0, "g"); err != nil || n != 1 {
		t.Fatalf("PurgeDead(g) = %d, %v; want 1", n, err)
	}
	want = map[string]int{"f": 2}
	if got, err := l.DeadCounts(t.Context()); err != nil || !maps.Equal(got, want) {
		t.Fatalf("DeadCounts after this server's purge = %v, %v; want %v, counted again", got, err, want)
	}
	st, err := l.ClusterStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Funcs) != 1 || st.Funcs[0].Func != "f" || st.Funcs[0].Dead != 2 {
		t.Fatalf("ClusterStatus functions = %+v; want f with 2 dead letters", st.Funcs)
	}
	if n, err := l.ReviveDead(t.Context(), 1001, ""); err != nil || n != 1 {
		t.Fatalf("ReviveDead(1001) = %d, %v; want 1", n, err)
	}
	want = map[string]int{"f": 1}
	if got, err := l.DeadCounts(t.Context()); err != nil || !maps.Equal(got, want) {
		t.Fatalf("DeadCounts after this server's retry = %v, %v; want %v", got, err, want)
	}
	// The job counts are cached on their own: the revived job is in the
	// queue, but the count of 5 s ago stands; the dead letters are new.
	st, err = l.ClusterStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Funcs) != 1 || st.Funcs[0].Func != "f" || st.Funcs[0].Dead != 1 || st.Funcs[0].Queued != 0 {
		t.Fatalf("ClusterStatus functions = %+v; want f with 1 dead letter, the job count cached", st.Funcs)
	}
}
