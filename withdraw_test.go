package gearman_test

import (
	"context"
	"errors"
	"iter"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// withdrawEnv is one server under test for the withdrawal tests: its
// address and the dialer that reaches it.
type withdrawEnv struct {
	addr string
	opts gearman.Options // DialContext set for the in-memory server
}

// eachWithdrawServer runs f against the C gearmand, our server on TCP, and
// gearmantest's in-memory server.
func eachWithdrawServer(t *testing.T, f func(t *testing.T, e *withdrawEnv)) {
	t.Run("gearmand", func(t *testing.T) { f(t, &withdrawEnv{addr: peertest.Gearmand(t)}) })
	t.Run("ours", func(t *testing.T) { f(t, &withdrawEnv{addr: srvStart(t, &gearman.Server{})}) })
	t.Run("gearmantest", func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		f(t, &withdrawEnv{addr: srv.Addr(), opts: gearman.Options{DialContext: srv.DialContext}})
	})
}

// connect dials the server; opts may be nil.
func (e *withdrawEnv) connect(t *testing.T, opts *gearman.Options) *gearman.Conn {
	o := e.opts
	if opts != nil {
		o = *opts
		o.DialContext = e.opts.DialContext
	}
	return dial(t, e.addr, &o)
}

// pool makes a pool of the one server.
func (e *withdrawEnv) pool(t *testing.T) *gearman.Pool {
	return newPool(t, []string{e.addr}, &gearman.PoolOptions{Options: e.opts})
}

// admin dials the server's admin protocol.
func (e *withdrawEnv) admin(t *testing.T) *gearman.AdminClient {
	t.Helper()
	ac, err := gearman.DialAdmin(testCtx(t), e.addr, &gearman.AdminOptions{DialContext: e.opts.DialContext})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close() })
	return ac
}

// waitQueued waits until fn has n jobs queued on the server.
func waitQueued(t *testing.T, ctx context.Context, ac *gearman.AdminClient, fn string, n int) {
	t.Helper()
	for {
		st, err := ac.Status(ctx)
		if err != nil {
			t.Fatalf("status, waiting for %d jobs of %s: %v", n, fn, err)
		}
		for _, f := range st {
			if f.Function == fn && f.Queued == n {
				return
			}
		}
	}
}

// waitWithdrawn waits until the server holds no job that it would still
// run: our servers remove a cancelled queued job, gearmand keeps it
// ("show jobs" IGNORE 1) until a grab reaches it and drops it. Without the
// withdrawal it waits until ctx ends and fails.
func waitWithdrawn(t *testing.T, ctx context.Context, ac *gearman.AdminClient) {
	t.Helper()
	var live []gearman.JobInfo
	for {
		jobs, err := ac.ShowJobs(ctx)
		if err != nil {
			t.Fatalf("show jobs, waiting for the withdrawal: %v (jobs still to run: %+v)", err, live)
		}
		live = slices.DeleteFunc(jobs, func(j gearman.JobInfo) bool { return j.Ignore })
		if len(live) == 0 {
			return
		}
	}
}

// ranOnly registers rec for fn on a new worker connection, runs one job
// "after" (the worker takes fn's jobs in order, so once it ran "after" it
// would have run any job queued before), and checks that it ran nothing
// else.
func ranOnly(t *testing.T, ctx context.Context, e *withdrawEnv, c gearman.Submitter, fn string) {
	t.Helper()
	rec := newRecorder()
	w := e.connect(t, nil)
	w.Register(fn, rec, nil)
	if out, err := c.Do(ctx, gearman.Job{Func: fn, Data: []byte("after")}); err != nil || string(out) != "after" {
		t.Fatalf("job after: %q, %v", out, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.got, []string{"after"}) {
		t.Errorf("the worker ran %q; want only the job submitted after the withdrawal", rec.got)
	}
}

// A foreground job whose Do context ends while it waits for a worker is
// withdrawn: a worker that registers later never runs it, and runs the job
// submitted after.
func TestWithdrawGivenUpDo(t *testing.T) {
	eachWithdrawServer(t, func(t *testing.T, e *withdrawEnv) {
		ctx := testCtx(t)
		ac := e.admin(t)
		c := e.connect(t, nil)
		jctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Do(jctx, gearman.Job{Func: "later", Data: []byte("given up")})
			errc <- err
		}()
		waitQueued(t, ctx, ac, "later", 1)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v; want context.Canceled", err)
		}
		waitWithdrawn(t, ctx, ac)
		ranOnly(t, ctx, e, c, "later")
	})
}

// The same through a pool, and with a job of the connection's own timeouts
// (Submit then Result, the task's context governing it), and for a task
// whose Submit context ends after the job was created.
func TestWithdrawGivenUpVariants(t *testing.T) {
	eachWithdrawServer(t, func(t *testing.T, e *withdrawEnv) {
		ctx := testCtx(t)
		ac := e.admin(t)
		c := e.connect(t, nil)
		p := e.pool(t)
		waitLive(t, ctx, p, 1)

		// Pool.Do of a job with an assign timeout that its caller's
		// context beats.
		jctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := p.Do(jctx, gearman.Job{Func: "later", Data: []byte("pool"), AssignTimeout: 1 << 40})
			errc <- err
		}()
		waitQueued(t, ctx, ac, "later", 1)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Pool.Do: %v; want context.Canceled", err)
		}

		// Submit, then the task's context ends.
		sctx, cancel := context.WithCancel(ctx)
		task, err := c.Submit(sctx, gearman.Job{Func: "later", Data: []byte("submitted")})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := task.Result(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Result: %v; want context.Canceled", err)
		}
		waitWithdrawn(t, ctx, ac)
		ranOnly(t, ctx, e, c, "later")
	})
}

// Result's own context ending leaves the task running (see Future): the
// job is not withdrawn, and its result comes to the next Result.
func TestWithdrawNotOnResultTimeout(t *testing.T) {
	srv := gearmantest.NewServer(t)
	e := &withdrawEnv{addr: srv.Addr(), opts: gearman.Options{DialContext: srv.DialContext}}
	ctx := testCtx(t)
	ac := e.admin(t)
	c := e.connect(t, nil)
	task, err := c.Submit(ctx, gearman.Job{Func: "later", Data: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := task.Result(rctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Result: %v; want context.Canceled", err)
	}
	waitQueued(t, ctx, ac, "later", 1)
	w := e.connect(t, nil)
	w.Register("later", newRecorder(), nil)
	if out, err := task.Result(ctx); err != nil || string(out) != "kept" {
		t.Fatalf("Result: %q, %v", out, err)
	}
}

// A job with a unique id is not withdrawn when its caller gives up:
// another client waiting on the same job keeps it and gets its result.
func TestWithdrawUniqueKept(t *testing.T) {
	eachWithdrawServer(t, func(t *testing.T, e *withdrawEnv) {
		ctx := testCtx(t)
		ac := e.admin(t)
		impatient, patient := e.connect(t, nil), e.connect(t, nil)
		jctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := impatient.Do(jctx, gearman.Job{Func: "late", Unique: "shared", Data: []byte("x")})
			errc <- err
		}()
		waitQueued(t, ctx, ac, "late", 1)
		keep, err := patient.Submit(ctx, gearman.Job{Func: "late", Unique: "shared", Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v; want context.Canceled", err)
		}
		// A job without a unique id given up after it is withdrawn: once
		// that is done, a withdrawal of the unique job would have been
		// too (one connection withdraws in order).
		jctx, cancel = context.WithCancel(ctx)
		go func() {
			_, err := impatient.Do(jctx, gearman.Job{Func: "late", Data: []byte("given up")})
			errc <- err
		}()
		waitQueued(t, ctx, ac, "late", 2)
		cancel()
		<-errc
		waitGone(t, ctx, ac, keep.Handle())
		w := e.connect(t, nil)
		w.Register("late", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) { return []byte("ran"), nil }), nil)
		if out, err := keep.Result(ctx); err != nil || string(out) != "ran" {
			t.Errorf("the other client's job: %q, %v", out, err)
		}
	})
}

// waitGone waits until the server holds no job to run but the one with
// handle keep.
func waitGone(t *testing.T, ctx context.Context, ac *gearman.AdminClient, keep string) {
	t.Helper()
	for {
		jobs, err := ac.ShowJobs(ctx)
		if err != nil {
			t.Fatalf("show jobs: %v", err)
		}
		live := slices.DeleteFunc(jobs, func(j gearman.JobInfo) bool { return j.Ignore || j.Handle == keep })
		if len(live) == 0 {
			return
		}
	}
}

// A group stopped early (FailFast, at its last job's failure) with n jobs
// queued: they are withdrawn, and a worker that comes later runs none of
// them.
func TestWithdrawGroupStopped(t *testing.T) {
	eachWithdrawServer(t, func(t *testing.T, e *withdrawEnv) {
		ctx := testCtx(t)
		ac := e.admin(t)
		const n = 50
		p := e.pool(t)
		waitLive(t, ctx, p, 1)
		w := e.connect(t, nil)
		w.Register("boom", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
			return nil, errors.New("boom")
		}), nil)
		jobs := func(yield func(gearman.Job) bool) {
			for i := range n {
				if !yield(gearman.Job{Func: "queued", Data: []byte(strconv.Itoa(i))}) {
					return
				}
			}
			// The n jobs are on the server: now the failure.
			for {
				st, err := ac.Status(ctx)
				if err != nil {
					t.Errorf("status, waiting for %d queued jobs: %v", n, err)
					return
				}
				if i := slices.IndexFunc(st, func(f gearman.FunctionStatus) bool { return f.Function == "queued" }); i >= 0 && st[i].Queued == n {
					break
				}
			}
			yield(gearman.Job{Func: "boom"})
		}
		g := gearman.NewGroup(ctx, p, iter.Seq[gearman.Job](jobs), &gearman.GroupOptions{MaxInFlight: n + 1, FailFast: true})
		d := g.Wait()
		if d.Jobs != n+1 || d.Failed != n+1 || d.Err == nil {
			t.Fatalf("group: %+v; want all %d jobs failed, stopped", d, n+1)
		}
		waitWithdrawn(t, ctx, ac)
		ranOnly(t, ctx, e, p, "queued")
	})
}

// heldReads holds back what the server sends while its gate is shut: the
// bytes are read from the socket, then wait for the gate.
type heldReads struct {
	net.Conn
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (h *heldReads) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return n, err
}

func (h *heldReads) hold() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *heldReads) release() {
	h.mu.Lock()
	close(h.gate)
	h.gate = nil
	h.mu.Unlock()
}

// A job whose Do context ends before its JOB_CREATED has reached the client
// is withdrawn once the handle arrives.
func TestWithdrawBeforeCreated(t *testing.T) {
	for name, addr := range map[string]func(*testing.T) string{
		"gearmand": func(t *testing.T) string { return peertest.Gearmand(t) },
		"ours":     func(t *testing.T) string { return srvStart(t, &gearman.Server{}) },
	} {
		t.Run(name, func(t *testing.T) {
			e := &withdrawEnv{addr: addr(t)}
			ctx := testCtx(t)
			ac := e.admin(t)
			var held *heldReads
			var nd net.Dialer
			c := dial(t, e.addr, &gearman.Options{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := nd.DialContext(ctx, network, addr)
				if err != nil || held != nil {
					return nc, err // the admin connection goes as it is
				}
				held = &heldReads{Conn: nc}
				return held, nil
			}})
			held.hold()
			jctx, cancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Do(jctx, gearman.Job{Func: "later", Data: []byte("given up")})
				errc <- err
			}()
			waitQueued(t, ctx, ac, "later", 1) // JOB_CREATED is on its way, held
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Do: %v; want context.Canceled", err)
			}
			held.release()
			waitWithdrawn(t, ctx, ac)
			ranOnly(t, ctx, e, c, "later")
		})
	}
}

// A background job is done once created: its context ending after that
// does not withdraw it.
func TestWithdrawNotBackground(t *testing.T) {
	srv := gearmantest.NewServer(t)
	e := &withdrawEnv{addr: srv.Addr(), opts: gearman.Options{DialContext: srv.DialContext}}
	ctx := testCtx(t)
	c := e.connect(t, nil)
	jctx, cancel := context.WithCancel(ctx)
	if _, err := c.Do(jctx, gearman.Job{Func: "later", Data: []byte("background"), Background: true}); err != nil {
		t.Fatal(err)
	}
	cancel()
	rec := newRecorder()
	w := e.connect(t, nil)
	w.Register("later", rec, nil)
	if got := rec.wait(t, ctx, 1); got[0] != "background" {
		t.Errorf("the worker ran %q", got)
	}
}
