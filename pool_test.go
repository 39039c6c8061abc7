package gearman_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

func newPool(t *testing.T, addrs []string, opts *gearman.PoolOptions) *gearman.Pool {
	t.Helper()
	if opts == nil {
		opts = &gearman.PoolOptions{}
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 200*time.Millisecond
	}
	p, err := gearman.NewPool(addrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitLive waits until the pool has n live servers.
func waitLive(t *testing.T, ctx context.Context, p *gearman.Pool, n int) {
	t.Helper()
	for len(p.Live()) != n {
		select {
		case <-p.Events():
		case <-ctx.Done():
			t.Fatalf("live servers %v; want %d", p.Live(), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestPoolRoundRobin(t *testing.T) {
	addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t), peertest.Gearmand(t)}
	ctx := testCtx(t)
	workers := newPool(t, addrs, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 4}})
	var mu sync.Mutex
	served := map[string]int{}
	workers.Register("where", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		mu.Lock()
		served[task.Addr()]++
		mu.Unlock()
		_, err := task.Write([]byte(task.Addr()))
		return err
	}), nil)
	clients := newPool(t, addrs, nil)
	waitLive(t, ctx, workers, 3)
	waitLive(t, ctx, clients, 3)
	submitted := map[string]int{}
	for i := range 30 {
		task, err := clients.Submit(ctx, gearman.Job{Func: "where", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := task.Result(ctx)
		if err != nil || string(got) != task.Addr() {
			t.Fatalf("job %d: %q, %v; want it served on %s", i, got, err, task.Addr())
		}
		submitted[task.Addr()]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range addrs {
		if submitted[a] != 10 || served[a] != 10 {
			t.Errorf("server %s: %d submitted, %d served; want 10 each", a, submitted[a], served[a])
		}
	}
}

func TestPoolSequence(t *testing.T) {
	addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
	ctx := testCtx(t)
	p := newPool(t, addrs, &gearman.PoolOptions{Strategy: gearman.Sequence})
	p.Register("where", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) { return b, nil }), nil)
	waitLive(t, ctx, p, 2)
	for range 5 {
		task, err := p.Submit(ctx, gearman.Job{Func: "where"})
		if err != nil {
			t.Fatal(err)
		}
		if task.Addr() != addrs[0] {
			t.Errorf("submitted to %s; want the first server %s", task.Addr(), addrs[0])
		}
		task.Result(ctx)
	}
}

// Stop a server in the middle of a run: every job still completes on the
// others; restart it: its workers are registered again and get jobs.
func TestPoolFailover(t *testing.T) {
	addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
	ctx := testCtx(t)
	workers := newPool(t, addrs, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 8}})
	var perServer sync.Map
	workers.Register("echo", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		n, _ := perServer.LoadOrStore(task.Addr(), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		_, err := task.Write([]byte("ok"))
		return err
	}), nil)
	clients := newPool(t, addrs, nil)
	waitLive(t, ctx, workers, 2)
	waitLive(t, ctx, clients, 2)

	run := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					task, err := clients.Submit(ctx, gearman.Job{Func: "echo", Data: []byte(fmt.Sprint(i))})
					if err == nil {
						_, err = task.Result(ctx)
					}
					if err == nil {
						return
					}
					if !errors.Is(err, gearman.ErrConnLost) || ctx.Err() != nil {
						t.Errorf("job %d: %v", i, err)
						return
					}
					// The server went away with the job: submit it again.
				}
			}()
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { run(200); close(done) }()
	peertest.StopGearmand(t, addrs[1])
	<-done
	waitLive(t, ctx, clients, 1)
	run(20)

	peertest.GearmandAt(t, addrs[1])
	waitLive(t, ctx, workers, 2)
	waitLive(t, ctx, clients, 2)
	before := int64(0)
	if n, ok := perServer.Load(addrs[1]); ok {
		before = n.(*atomic.Int64).Load()
	}
	run(20)
	n, _ := perServer.Load(addrs[1])
	if n == nil || n.(*atomic.Int64).Load() <= before {
		t.Errorf("the restarted server's workers got no jobs")
	}
}

func TestPoolAllDown(t *testing.T) {
	addr := peertest.Gearmand(t)
	peertest.StopGearmand(t, addr)
	p := newPool(t, []string{addr}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := p.Submit(ctx, gearman.Job{Func: "x"})
	if !errors.Is(err, context.DeadlineExceeded) || !gearman.SafeToRetry(err) {
		t.Fatalf("got %v; want a deadline error that is safe to retry", err)
	}
	select {
	case e := <-p.Events():
		if e.Kind != gearman.DialFailed || e.Addr != addr || e.Err == nil {
			t.Errorf("event %+v; want a dial failure", e)
		}
	default:
		t.Error("no event for the failed dials")
	}
}

// MaxJobs is one budget across all servers.
func TestPoolJobBudget(t *testing.T) {
	addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
	ctx := testCtx(t)
	workers := newPool(t, addrs, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 2}})
	var running, peak atomic.Int32
	release := make(chan struct{})
	workers.Register("hold", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return b, nil
	}), nil)
	clients := newPool(t, addrs, nil)
	waitLive(t, ctx, workers, 2)
	var tasks []*gearman.Task
	for i := range 6 {
		task, err := clients.Submit(ctx, gearman.Job{Func: "hold", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	for running.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // give a third job the chance to start wrongly
	close(release)
	for _, task := range tasks {
		if _, err := task.Result(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if peak.Load() != 2 {
		t.Errorf("peak of %d jobs at once; want 2", peak.Load())
	}
}

func TestPoolEchoAndClose(t *testing.T) {
	up, down := peertest.Gearmand(t), peertest.Gearmand(t)
	peertest.StopGearmand(t, down)
	ctx := testCtx(t)
	p := newPool(t, []string{up, down}, nil)
	waitLive(t, ctx, p, 1)
	res := p.Echo(ctx)
	if len(res) != 2 || res[0].Addr != up || res[0].Err != nil || res[0].Value <= 0 {
		t.Errorf("echo of the live server: %+v", res)
	}
	if !errors.Is(res[1].Err, gearman.ErrConnLost) {
		t.Errorf("echo of the down server: %+v", res[1])
	}
	task, err := p.Submit(ctx, gearman.Job{Func: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := task.Result(ctx); !errors.Is(err, gearman.ErrClosed) {
		t.Errorf("task after Close: %v; want ErrClosed", err)
	}
	if _, err := p.Submit(ctx, gearman.Job{Func: "x"}); !errors.Is(err, gearman.ErrClosed) {
		t.Errorf("submit after Close: %v", err)
	}
}
