package gearman_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// numberJobs is a lazy sequence of n jobs of fn whose payloads are their
// indexes; pulled counts the jobs taken from it.
func numberJobs(fn string, n int, pulled *atomic.Int64) iter.Seq[gearman.Job] {
	return func(yield func(gearman.Job) bool) {
		for i := range n {
			if pulled != nil {
				pulled.Add(1)
			}
			if !yield(gearman.Job{Func: fn, Data: []byte(strconv.Itoa(i))}) {
				return
			}
		}
	}
}

// doubleHandler answers a number with its double, and fails on a payload
// that is not a number.
var doubleHandler = gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(p))
	if err != nil {
		return nil, err
	}
	return []byte(strconv.Itoa(2 * n)), nil
})

// collect ranges over g's results and fails t on an index seen twice.
func collect(t *testing.T, g *gearman.Group) map[int]gearman.JobResult {
	t.Helper()
	got := map[int]gearman.JobResult{}
	for i, r := range g.Results() {
		if _, dup := got[i]; dup {
			t.Fatalf("index %d reported twice", i)
		}
		got[i] = r
	}
	return got
}

// A group delivers every job's result once, with its index, then the
// counts; on a Pool and on a single Conn, against gearmand and ours.
func TestGroupResults(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		ctx := testCtx(t)
		workers := newPool(t, []string{addr}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 4}})
		workers.Register("double", doubleHandler, nil)
		clients := newPool(t, []string{addr}, nil)
		conn := dial(t, addr, nil)
		for _, s := range []struct {
			name string
			s    gearman.Submitter
		}{{"pool", clients}, {"conn", conn}} {
			t.Run(s.name, func(t *testing.T) {
				const n = 300
				g := gearman.NewGroup(ctx, s.s, numberJobs("double", n, nil), &gearman.GroupOptions{MaxInFlight: 16})
				got := collect(t, g)
				if len(got) != n {
					t.Fatalf("%d results; want %d", len(got), n)
				}
				for i, r := range got {
					if r.Err != nil || string(r.Data) != strconv.Itoa(2*i) {
						t.Errorf("job %d: %q, %v", i, r.Data, r.Err)
					}
				}
				if d := g.Wait(); d != (gearman.GroupDone{Jobs: n, Completed: n}) {
					t.Errorf("done: %+v", d)
				}
			})
		}
	})
}

// A failed job is reported and the others go on; with FailFast the first
// failure stops the rest.
func TestGroupFailures(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	workers := newPool(t, []string{srv}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 8}})
	release := make(chan struct{})
	workers.Register("double", doubleHandler, nil)
	workers.Register("slow", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return p, nil
	}), nil)
	clients := newPool(t, []string{srv}, nil)
	jobs := []gearman.Job{
		{Func: "double", Data: []byte("1")},
		{Func: "double", Data: []byte("not a number")},
		{Func: "double", Data: []byte("3")},
	}

	t.Run("others go on", func(t *testing.T) {
		g := gearman.NewGroup(ctx, clients, slices.Values(jobs), nil)
		got := collect(t, g)
		var ex *gearman.JobException
		if len(got) != 3 || got[0].Err != nil || got[2].Err != nil || !errors.As(got[1].Err, &ex) {
			t.Fatalf("results %+v", got)
		}
		if d := g.Wait(); d != (gearman.GroupDone{Jobs: 3, Completed: 2, Failed: 1}) {
			t.Errorf("done: %+v", d)
		}
	})

	t.Run("fail fast", func(t *testing.T) {
		// Two slow jobs are running when the bad one fails; the jobs after
		// it are never taken.
		seq := func(yield func(gearman.Job) bool) {
			_ = yield(gearman.Job{Func: "slow", Data: []byte("a")}) &&
				yield(gearman.Job{Func: "slow", Data: []byte("b")}) &&
				yield(gearman.Job{Func: "double", Data: []byte("bad")})
			// The failure stops the group before it takes more.
			for i := 0; ; i++ {
				if !yield(gearman.Job{Func: "slow", Data: []byte("after")}) {
					return
				}
			}
		}
		g := gearman.NewGroup(ctx, clients, seq, &gearman.GroupOptions{MaxInFlight: 3, FailFast: true})
		got := collect(t, g)
		d := g.Wait()
		var ex *gearman.JobException
		if !errors.As(got[2].Err, &ex) {
			t.Errorf("job 2: %v; want its exception", got[2].Err)
		}
		for _, i := range []int{0, 1} {
			if !errors.Is(got[i].Err, gearman.ErrGroupStopped) {
				t.Errorf("job %d: %v; want ErrGroupStopped", i, got[i].Err)
			}
		}
		if !errors.As(d.Err, &ex) || d.Jobs != len(got) || d.Failed != d.Jobs || d.Jobs > 3+3 {
			t.Errorf("done %+v with %d results", d, len(got))
		}
	})
	close(release)
}

// At most MaxInFlight jobs run at once, the sequence is pulled only as
// jobs end, and breaking out of the loop stops the group and leaves
// nothing running.
func TestGroupBounded(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	workers := newPool(t, []string{srv}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 64}})
	var running, peak atomic.Int64
	workers.Register("count", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		return p, nil
	}), nil)
	clients := newPool(t, []string{srv}, nil)
	var pulled atomic.Int64
	const inFlight, stopAt = 8, 500
	g := gearman.NewGroup(ctx, clients, numberJobs("count", 1_000_000, &pulled), &gearman.GroupOptions{MaxInFlight: inFlight})
	seen := 0
	for _, r := range g.Results() {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if seen++; seen == stopAt {
			break
		}
	}
	d := g.Wait()
	if p := peak.Load(); p > inFlight {
		t.Errorf("%d jobs ran at once; want at most %d", p, inFlight)
	}
	if p := pulled.Load(); p > stopAt+inFlight+1 {
		t.Errorf("%d jobs pulled from the sequence for %d results", p, stopAt)
	}
	if !errors.Is(d.Err, gearman.ErrGroupStopped) || d.Jobs < stopAt || d.Jobs > stopAt+inFlight || d.Completed+d.Failed != d.Jobs {
		t.Errorf("done: %+v", d)
	}
	if n := running.Load(); n != 0 {
		// The abandoned jobs' handlers may still be finishing: the
		// client gave up on them, the workers did not.
		t.Logf("%d handlers still running after the break", n)
	}
}

// Cancelling the group's context abandons the jobs not finished: each is
// still reported, with the context's error, and no job is taken after.
func TestGroupCancel(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	workers := newPool(t, []string{srv}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 4}})
	started := make(chan struct{}, 100)
	workers.Register("block", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}), nil)
	clients := newPool(t, []string{srv}, nil)
	gctx, cancel := context.WithCancel(ctx)
	g := gearman.NewGroup(gctx, clients, numberJobs("block", 100, nil), &gearman.GroupOptions{MaxInFlight: 10})
	go func() {
		for range 4 {
			<-started
		}
		cancel()
	}()
	got := collect(t, g)
	d := g.Wait()
	for i, r := range got {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("job %d: %v; want context.Canceled", i, r.Err)
		}
	}
	if d.Err != context.Canceled || d.Jobs != len(got) || d.Jobs > 10 || d.Failed != d.Jobs {
		t.Errorf("done %+v with %d results", d, len(got))
	}
}

// A handler fans out sub-jobs as a group, served by another pool.
func TestGroupFanOut(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	subWorkers := newPool(t, []string{srv}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 8}})
	subWorkers.Register("double", doubleHandler, nil)
	fanners := newPool(t, []string{srv}, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 4}})
	fanners.Register("sum-doubles", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		n, _ := strconv.Atoi(string(p))
		g := gearman.NewGroup(ctx, fanners, numberJobs("double", n, nil), &gearman.GroupOptions{MaxInFlight: 4, FailFast: true})
		sum := 0
		for _, r := range g.Results() {
			if r.Err != nil {
				return nil, r.Err
			}
			v, _ := strconv.Atoi(string(r.Data))
			sum += v
		}
		return []byte(strconv.Itoa(sum)), g.Wait().Err
	}), nil)
	clients := newPool(t, []string{srv}, nil)
	jobs := []gearman.Job{{Func: "sum-doubles", Data: []byte("10")}, {Func: "sum-doubles", Data: []byte("100")}}
	got := collect(t, gearman.NewGroup(ctx, clients, slices.Values(jobs), nil))
	if string(got[0].Data) != "90" || string(got[1].Data) != "9900" {
		t.Errorf("results %+v", got)
	}
}

// A sequence that panics makes the loop panic with its value, after the
// group has ended.
func TestGroupSequencePanics(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	workers := newPool(t, []string{srv}, nil)
	workers.Register("double", doubleHandler, nil)
	clients := newPool(t, []string{srv}, nil)
	seq := func(yield func(gearman.Job) bool) {
		if yield(gearman.Job{Func: "double", Data: []byte("1")}) {
			panic("sequence broke")
		}
	}
	defer func() {
		if p := recover(); p != "sequence broke" {
			t.Errorf("recovered %v", p)
		}
	}()
	for range gearman.NewGroup(ctx, clients, seq, nil).Results() {
	}
	t.Error("no panic")
}

// A group of 10,000 jobs over two servers, one of them stopped mid-group:
// every index is answered exactly once, with a result or an error, and the
// jobs submitted after the stop go to the other server.
func TestGroupServerKilled(t *testing.T) {
	t.Run("gearmand", func(t *testing.T) {
		addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
		testGroupServerKilled(t, addrs, nil, func() { peertest.StopGearmand(t, addrs[1]) })
	})
	t.Run("ours", func(t *testing.T) {
		second := &gearman.Server{}
		addrs := []string{srvStart(t, &gearman.Server{}), srvStart(t, second)}
		testGroupServerKilled(t, addrs, nil, func() { second.Close() })
	})
	t.Run("gearmantest", func(t *testing.T) {
		srvs, addrs, opts := memServers(t, 2, nil)
		testGroupServerKilled(t, addrs, opts, func() { memDown(srvs[1]) })
	})
}

func testGroupServerKilled(t *testing.T, addrs []string, opts *gearman.PoolOptions, kill func()) {
	ctx := testCtx(t)
	var wopts gearman.PoolOptions
	if opts != nil {
		wopts = *opts
	}
	wopts.MaxJobs = 16
	workers := newPool(t, addrs, &wopts)
	var mu sync.Mutex
	served := map[string]int{}
	workers.Register("double", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		mu.Lock()
		served[task.Addr()]++
		mu.Unlock()
		return doubleHandler.Work(ctx, task)
	}), nil)
	clients := newPool(t, addrs, opts)
	waitLive(t, ctx, workers, 2)
	waitLive(t, ctx, clients, 2)

	const n, killAt = 10_000, 3_000
	g := gearman.NewGroup(ctx, clients, numberJobs("double", n, nil), &gearman.GroupOptions{MaxInFlight: 128})
	answered := make([]int, n)
	var failed, lost int
	var once sync.Once
	for i, r := range g.Results() {
		answered[i]++
		switch {
		case r.Err == nil && string(r.Data) != strconv.Itoa(2*i):
			t.Errorf("job %d: result %q", i, r.Data)
		case r.Err != nil:
			failed++
			if errors.Is(r.Err, gearman.ErrConnLost) {
				lost++
			} else {
				t.Errorf("job %d: %v; want a result or ErrConnLost", i, r.Err)
			}
		}
		if i >= killAt {
			once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				if served[addrs[0]] == 0 || served[addrs[1]] == 0 {
					t.Errorf("before the kill the servers ran %v jobs; want both some (round-robin)", served)
				}
				kill()
			})
		}
	}
	for i, k := range answered {
		if k != 1 {
			t.Fatalf("job %d answered %d times", i, k)
		}
	}
	d := g.Wait()
	if d.Jobs != n || d.Completed+d.Failed != n || d.Failed != failed || d.Err != nil {
		t.Errorf("done: %+v; %d failures seen", d, failed)
	}
	if d.Completed < n-200 {
		t.Errorf("only %d of %d completed; the live server should take the rest", d.Completed, n)
	}
	t.Logf("%+v (%d lost with their server)", d, lost)
}

// Example-sized check that the group's error messages name the job.
func TestGroupStoppedMessage(t *testing.T) {
	srv := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	workers := newPool(t, []string{srv}, nil)
	workers.Register("double", doubleHandler, nil)
	clients := newPool(t, []string{srv}, nil)
	g := gearman.NewGroup(ctx, clients, slices.Values([]gearman.Job{{Func: "double", Data: []byte("x")}}), &gearman.GroupOptions{FailFast: true})
	d := g.Wait()
	if want := fmt.Sprintf("gearman: job %d of the group: ", 0); d.Err == nil || len(d.Err.Error()) < len(want) || d.Err.Error()[:len(want)] != want {
		t.Errorf("done.Err = %v; want it to start %q", d.Err, want)
	}
}
