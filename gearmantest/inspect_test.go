package gearmantest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

func TestQueuedAndStall(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Fake("resize", gearmantest.Reply{Data: []byte("ok")})
	srv.Stall("resize")
	p := srv.Pool(nil)
	for _, prio := range []gearman.Priority{gearman.High, gearman.Normal, gearman.Normal, gearman.Low} {
		if _, err := p.Submit(ctx, gearman.Job{Func: "resize", Priority: prio, Background: true}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[gearman.Priority]int{gearman.High: 1, gearman.Normal: 2, gearman.Low: 1}
	if diff := cmp.Diff(want, srv.Queued("resize")); diff != "" {
		t.Errorf("queued while stalled (-want +got):\n%s", diff)
	}
	wantFuncs := []gearmantest.Func{{Name: "resize", Queued: want, Workers: 1, Stalled: true}}
	if diff := cmp.Diff(wantFuncs, srv.Funcs()); diff != "" {
		t.Errorf("funcs (-want +got):\n%s", diff)
	}
	srv.Unstall("resize")
	err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool {
		f := s.Func("resize")
		return len(f.Queued) == 0 && f.Running == 0
	})
	if err != nil {
		t.Fatalf("the jobs did not run after Unstall: %v; %+v", err, srv.Func("resize"))
	}
	if got := srv.Queued("nosuch"); got != nil {
		t.Errorf("queued of an unknown function: %v; want nil", got)
	}
	want0 := gearmantest.Func{Name: "resize", Workers: 1}
	if diff := cmp.Diff(want0, srv.Func("resize")); diff != "" {
		t.Errorf("after the jobs ran (-want +got):\n%s", diff)
	}
}

// A worker serving a stalled function and another gets the other's jobs
// only, even when woken for them.
func TestStallOneOfTwo(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	got := make(chan string, 10)
	h := func(ctx context.Context, b []byte) ([]byte, error) {
		got <- string(b)
		return nil, nil
	}
	srv.HandleFunc("a", h)
	srv.HandleFunc("b", h)
	srv.Stall("a")
	p := srv.Pool(nil)
	for _, j := range []gearman.Job{{Func: "a", Data: []byte("a1")}, {Func: "b", Data: []byte("b1")}, {Func: "a", Data: []byte("a2")}} {
		j.Background = true
		if _, err := p.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if s := <-got; s != "b1" {
		t.Fatalf("first job run: %s; want b1", s)
	}
	if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return s.Func("b").Running == 0 }); err != nil {
		t.Fatal(err)
	}
	if q := srv.Queued("a"); q[gearman.Normal] != 2 {
		t.Fatalf("a's queue: %v; want both jobs", q)
	}
	srv.Unstall("a")
	ran := map[string]bool{<-got: true, <-got: true} // in either order: they run at once
	if !ran["a1"] || !ran["a2"] {
		t.Errorf("after Unstall: %v; want a1 and a2", ran)
	}
}

// A foreground submit to a stalled function waits; the caller's deadline
// ends it.
func TestStallDeadline(t *testing.T) {
	srv := gearmantest.NewServer(t)
	srv.Fake("slow", gearmantest.Reply{})
	srv.Stall("slow")
	p := srv.Pool(nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	task, err := p.Submit(ctx, gearman.Job{Func: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return s.Queued("slow")[gearman.Normal] == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := task.Result(t.Context()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want the context's error", err)
	}
}

func TestSubmitted(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Stall("f")
	p := srv.Pool(nil)
	at := time.Unix(time.Now().Add(time.Hour).Unix(), 0)
	jobs := []gearman.Job{
		{Func: "f", Data: []byte("fg"), Unique: "u1"},
		{Func: "f", Data: []byte("fg"), Unique: "u1"}, // joins the first
		{Func: "f", Data: []byte("high"), Priority: gearman.High, Background: true},
		{Func: "f", Data: []byte("low"), Priority: gearman.Low},
		{Func: "f", Data: []byte("later"), Background: true, At: at},
		{Func: "f", Data: []byte("cron"), Background: true, Schedule: &gearman.Schedule{Minute: "0", Hour: "*/2"}},
		{Func: "f", Data: []byte("map"), Reducer: "sum"},
		{Func: "g"},
	}
	for _, j := range jobs {
		if _, err := p.Submit(ctx, j); err != nil {
			t.Fatalf("submit %+v: %v", j, err)
		}
	}
	got, err := srv.WaitSubmitted(ctx, len(jobs))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs, got); diff != "" {
		t.Errorf("submitted (-want +got):\n%s", diff)
	}
	if f := srv.Func("f"); f.Waiting != 2 || f.Queued[gearman.Normal] != 2 {
		t.Errorf("function f: %+v; want 2 waiting (epoch and schedule) and 2 normal queued (the joined one once)", f)
	}
}

func TestWorkersAndConnections(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	w1 := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{ClientID: "w1"}})
	w1.Register("b", gearman.BytesHandler(nil), nil)
	w1.Register("a", gearman.BytesHandler(nil), nil)
	w2 := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{ClientID: "w2"}})
	w2.Register("a", gearman.BytesHandler(nil), nil)
	srv.Pool(nil) // a client: a connection, not a worker
	err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool {
		n := 0
		for _, w := range s.Workers() {
			n += len(w.Funcs)
		}
		return n == 3 && s.Connections() == 3
	})
	if err != nil {
		t.Fatalf("%v: workers %+v, %d connections", err, srv.Workers(), srv.Connections())
	}
	got := map[string][]string{}
	for _, w := range srv.Workers() {
		got[w.ClientID] = w.Funcs
	}
	want := map[string][]string{"w1": {"a", "b"}, "w2": {"a"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workers (-want +got):\n%s", diff)
	}
}

func TestWaitForContext(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return len(s.Queued("never")) > 0 })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want DeadlineExceeded", err)
	}
}

// WaitFor wakes on each change: here a job submitted from another
// goroutine.
func TestWaitForWakes(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Stall("later")
	p := srv.Pool(nil)
	go p.Submit(ctx, gearman.Job{Func: "later", Background: true})
	if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return s.Queued("later")[gearman.Normal] == 1 }); err != nil {
		t.Fatal(err)
	}
}
