package pgstore_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/pgstore"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }

func TestOpenMigratesOnceAndTakesANewNodeEachTime(t *testing.T) {
	url := pgtest.Start(t)
	var nodes []int64
	for range 2 {
		l, err := pgstore.Open(t.Context(), url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, l.Node())
		if err := l.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if nodes[0] == nodes[1] {
		t.Fatalf("two opens took node %d twice", nodes[0])
	}
	if v := pgtest.Value[int32](t, url, "SELECT version FROM gearman_schema"); v != pgstore.SchemaVersion {
		t.Fatalf("schema version %d; want %d", v, pgstore.SchemaVersion)
	}
	if n := pgtest.Value[int64](t, url, "SELECT count(*) FROM gearman_schema"); n != 1 {
		t.Fatalf("gearman_schema has %d rows; want 1", n)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	url := pgtest.Start(t)
	l, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close(t.Context())
	pgtest.Exec(t, url, "UPDATE gearman_schema SET version = version + 1")
	_, err = pgstore.Open(t.Context(), url, pgstore.Options{})
	if !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Open on a newer schema: %v; want ErrSchemaTooNew", err)
	}
}

func TestWhereHidesThePassword(t *testing.T) {
	url := pgtest.Start(t)
	l, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	withPassword := strings.Replace(url, "postgres@", "postgres:secret@", 1)
	l2, err := pgstore.Open(t.Context(), withPassword, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close(t.Context())
	if strings.Contains(l2.Where(), "secret") {
		t.Fatalf("Where() = %q shows the password", l2.Where())
	}
}

// claimer records what a Log hands the engine.
type claimer struct{ got chan []*store.Job }

func (c *claimer) Relog(uint32, []uint64)    {}
func (c *claimer) Deliver(jobs []*store.Job) { c.got <- jobs }
func (c *claimer) Cancelled(uint64)          {}
func (c *claimer) LeaseLost()                {}

func TestCloseGivesBackHeldJobsAndClaimCountsALostAttempt(t *testing.T) {
	url := pgtest.Start(t)
	a, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(&claimer{got: make(chan []*store.Job, 1)})
	first := a.Replay(nil) + 1
	_, commit := a.Created(store.Job{ID: first, Func: "f", Data: []byte("x"), Priority: 1, Held: true}, 0)
	<-commit.Done()
	if err := commit.Err(); err != nil {
		t.Fatal(err)
	}
	a.Assigned(store.Ref{}, first)
	if err := a.Close(t.Context()); err != nil { // flushes the assignment, gives the job back
		t.Fatal(err)
	}
	if owner := pgtest.Value[*int64](t, url, "SELECT owner FROM gearman_job"); owner != nil {
		t.Fatalf("job still owned by node %d after Close", *owner)
	}

	b, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(t.Context())
	c := &claimer{got: make(chan []*store.Job, 1)}
	b.Start(c)
	b.Want("f", 1)
	jobs := <-c.got
	if len(jobs) != 1 || jobs[0].ID != first || !jobs[0].Lost || jobs[0].Retries != 1 || string(jobs[0].Data) != "x" {
		t.Fatalf("claimed %+v; want job %d, its attempt on the closed node lost (Retries 1)", jobs, first)
	}
}
