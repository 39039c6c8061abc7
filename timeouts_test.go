package gearman_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// connector dials the server under test; t.Cleanup closes the connection.
type connector func(t *testing.T, opts *gearman.Options) *gearman.Conn

// eachServerMem runs f against the C gearmand, our server on TCP, and
// gearmantest's in-memory server.
func eachServerMem(t *testing.T, f func(t *testing.T, connect connector)) {
	tcp := func(addr string) connector {
		return func(t *testing.T, opts *gearman.Options) *gearman.Conn { return dial(t, addr, opts) }
	}
	t.Run("gearmand", func(t *testing.T) { f(t, tcp(peertest.Gearmand(t))) })
	t.Run("ours", func(t *testing.T) { f(t, tcp(srvStart(t, &gearman.Server{}))) })
	t.Run("gearmantest", func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		f(t, func(t *testing.T, opts *gearman.Options) *gearman.Conn {
			var o gearman.Options
			if opts != nil {
				o = *opts
			}
			o.DialContext = srv.DialContext
			return dial(t, srv.Addr(), &o)
		})
	})
}

// An assign timeout with no worker: the job fails with ErrAssignTimeout,
// withdrawn from the server, and a worker that comes later never runs it.
func TestAssignTimeout(t *testing.T) {
	eachServerMem(t, func(t *testing.T, connect connector) {
		ctx := testCtx(t)
		c := connect(t, nil)
		const limit = 300 * time.Millisecond
		start := time.Now()
		_, err := c.Do(ctx, gearman.Job{Func: "nobody", Data: []byte("withdrawn"), AssignTimeout: limit})
		elapsed := time.Since(start)
		var te *gearman.TimeoutError
		if !errors.Is(err, gearman.ErrAssignTimeout) || !errors.As(err, &te) {
			t.Fatalf("Do: %v; want ErrAssignTimeout", err)
		}
		if errors.Is(err, gearman.ErrRunTimeout) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v also matches another timeout", err)
		}
		if !te.Assign || !te.Withdrawn || te.Started || te.Limit != limit || te.Func != "nobody" || te.Handle == "" {
			t.Errorf("error %+v", te)
		}
		if elapsed < limit {
			t.Errorf("failed after %v, before its assign timeout of %v", elapsed, limit)
		}
		t.Log(err)

		// A worker that comes now gets the job submitted after, never the
		// withdrawn one.
		rec := newRecorder()
		w := connect(t, nil)
		w.Register("nobody", rec, nil)
		if out, err := c.Do(ctx, gearman.Job{Func: "nobody", Data: []byte("after")}); err != nil || string(out) != "after" {
			t.Fatalf("job after: %q, %v", out, err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if !slices.Equal(rec.got, []string{"after"}) {
			t.Errorf("the worker ran %q; want only the job submitted after the withdrawal", rec.got)
		}
	})
}

// A job a worker takes in time is not failed by its assign timeout, however
// long it then runs; nor is a run timeout counted while the job waits in
// the queue.
func TestTimeoutsCountTheirOwnPhase(t *testing.T) {
	eachServerMem(t, func(t *testing.T, connect connector) {
		ctx := testCtx(t)
		w := connect(t, nil) // MaxJobs 1: the second job waits for the first
		w.Register("sleep", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
			d, _ := time.ParseDuration(string(p))
			time.Sleep(d)
			return p, nil
		}), nil)
		c := connect(t, nil)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, job := range []gearman.Job{
			{Func: "sleep", Data: []byte("600ms"), AssignTimeout: 300 * time.Millisecond},
			{Func: "sleep", Data: []byte("10ms"), RunTimeout: 400 * time.Millisecond},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Do(ctx, job)
			}()
			time.Sleep(50 * time.Millisecond) // the first is assigned first
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		}
	})
}

// A run timeout: the job fails with ErrRunTimeout once it has run that
// long, whether the client learns it runs from a status report or from
// asking the server.
func TestRunTimeout(t *testing.T) {
	eachServerMem(t, func(t *testing.T, connect connector) {
		ctx := testCtx(t)
		release := make(chan struct{})
		w := connect(t, &gearman.Options{MaxJobs: 4})
		t.Cleanup(func() { close(release) })
		w.Register("hang", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}), nil)
		w.Register("hang-reporting", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
			task.SetStatus(1, 2)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}), nil)
		c := connect(t, nil)
		for _, fn := range []string{"hang", "hang-reporting"} {
			t.Run(fn, func(t *testing.T) {
				const limit = 250 * time.Millisecond
				start := time.Now()
				_, err := c.Do(ctx, gearman.Job{Func: fn, RunTimeout: limit, AssignTimeout: 10 * time.Second})
				elapsed := time.Since(start)
				var te *gearman.TimeoutError
				if !errors.Is(err, gearman.ErrRunTimeout) || !errors.As(err, &te) || te.Assign || te.Limit != limit {
					t.Fatalf("Do: %v; want ErrRunTimeout", err)
				}
				if errors.Is(err, gearman.ErrAssignTimeout) || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%v also matches another timeout", err)
				}
				if elapsed < limit {
					t.Errorf("failed after %v, before it ran %v", elapsed, limit)
				}
				t.Log(err)
			})
		}
	})
}

// The caller's deadline stays context.DeadlineExceeded, told apart from
// the job's own timeouts.
func TestTimeoutsCallerDeadline(t *testing.T) {
	eachServerMem(t, func(t *testing.T, connect connector) {
		c := connect(t, nil)
		ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer cancel()
		_, err := c.Do(ctx, gearman.Job{Func: "nobody", AssignTimeout: time.Minute, RunTimeout: time.Minute})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gearman.ErrAssignTimeout) || errors.Is(err, gearman.ErrRunTimeout) {
			t.Fatalf("Do: %v; want only context.DeadlineExceeded", err)
		}
	})
}

// Timeouts are for foreground jobs, and not negative.
func TestTimeoutsRefused(t *testing.T) {
	c := dial(t, srvStart(t, &gearman.Server{}), nil)
	ctx := testCtx(t)
	for _, job := range []gearman.Job{
		{Func: "f", Background: true, AssignTimeout: time.Second},
		{Func: "f", Background: true, RunTimeout: time.Second},
		{Func: "f", RunTimeout: -time.Second},
	} {
		if _, err := c.Submit(ctx, job); err == nil || !gearman.SafeToRetry(err) {
			t.Errorf("Submit(%+v): %v; want a refusal before sending", job, err)
		}
	}
}

// A group of jobs with an assign timeout through a pool on the in-memory
// server: each fails alone, withdrawn; the jobs a worker serves complete.
func TestGroupAssignTimeout(t *testing.T) {
	_, addrs, opts := memServers(t, 2, nil)
	ctx := testCtx(t)
	wopts := *opts
	wopts.MaxJobs = 4
	workers := newPool(t, addrs, &wopts)
	workers.Register("double", doubleHandler, nil)
	clients := newPool(t, addrs, opts)
	waitLive(t, ctx, workers, 2)
	waitLive(t, ctx, clients, 2)
	var jobs []gearman.Job
	for i := range 40 {
		fn := "double"
		if i%4 == 0 {
			fn = "nobody"
		}
		jobs = append(jobs, gearman.Job{Func: fn, Data: []byte("1")})
	}
	g := gearman.NewGroup(ctx, clients, slices.Values(jobs), &gearman.GroupOptions{MaxInFlight: 40, AssignTimeout: 200 * time.Millisecond})
	for i, r := range g.Results() {
		var te *gearman.TimeoutError
		switch {
		case i%4 == 0 && !(errors.As(r.Err, &te) && te.Withdrawn):
			t.Errorf("job %d: %v; want ErrAssignTimeout, withdrawn", i, r.Err)
		case i%4 != 0 && (r.Err != nil || string(r.Data) != "2"):
			t.Errorf("job %d: %q, %v", i, r.Data, r.Err)
		}
	}
	if d := g.Wait(); d.Completed != 30 || d.Failed != 10 {
		t.Errorf("done: %+v", d)
	}
}

// On servers without the admin "cancel job" (the Perl Gearman::Server,
// the abraxas server) an assign timeout still fails the job, saying that
// it was not withdrawn. The abraxas server does not answer admin commands
// at all: its first withdrawal waits 2s for an answer, the next ones (for
// 10s) do not try again.
func TestAssignTimeoutNotWithdrawn(t *testing.T) {
	for _, script := range []string{"start-perl-gearmand.sh", "start-abraxas-server.sh"} {
		t.Run(script, func(t *testing.T) {
			addr := peertest.Script(t, script)
			ctx := testCtx(t)
			c := dial(t, addr, nil)
			for i := range 3 {
				start := time.Now()
				_, err := c.Do(ctx, gearman.Job{Func: "nobody", AssignTimeout: 100 * time.Millisecond})
				var te *gearman.TimeoutError
				if !errors.Is(err, gearman.ErrAssignTimeout) || !errors.As(err, &te) || te.Withdrawn {
					t.Fatalf("job %d: %v; want ErrAssignTimeout, not withdrawn", i, err)
				}
				t.Logf("job %d after %v: %v", i, time.Since(start).Round(time.Millisecond), err)
			}
		})
	}
}

// A job with a unique id is not withdrawn at its assign timeout: another
// client waiting on the same job keeps it, and gets its result.
func TestAssignTimeoutUniqueKept(t *testing.T) {
	eachServerMem(t, func(t *testing.T, connect connector) {
		ctx := testCtx(t)
		impatient, patient := connect(t, nil), connect(t, nil)
		keep, err := patient.Submit(ctx, gearman.Job{Func: "late", Unique: "shared", Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = impatient.Do(ctx, gearman.Job{Func: "late", Unique: "shared", Data: []byte("x"), AssignTimeout: 100 * time.Millisecond})
		var te *gearman.TimeoutError
		if !errors.As(err, &te) || !te.Assign || te.Withdrawn {
			t.Fatalf("Do: %v; want ErrAssignTimeout, not withdrawn", err)
		}
		w := connect(t, nil)
		w.Register("late", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) { return []byte("ran"), nil }), nil)
		if out, err := keep.Result(ctx); err != nil || string(out) != "ran" {
			t.Errorf("the other client's job: %q, %v", out, err)
		}
	})
}
