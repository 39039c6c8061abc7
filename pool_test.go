package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// memServers starts n in-memory job servers, for the pool tests where a
// real server is not the point, and returns them, their addresses, and
// pool options whose DialContext reaches each by its address.
func memServers(t *testing.T, n int, opts *gearman.PoolOptions) ([]*gearmantest.Server, []string, *gearman.PoolOptions) {
	t.Helper()
	byAddr := map[string]*gearmantest.Server{}
	var srvs []*gearmantest.Server
	var addrs []string
	for range n {
		s := gearmantest.NewServer(t)
		srvs, addrs = append(srvs, s), append(addrs, s.Addr())
		byAddr[s.Addr()] = s
	}
	var o gearman.PoolOptions
	if opts != nil {
		o = *opts
	}
	o.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		s := byAddr[addr]
		if s == nil {
			return nil, fmt.Errorf("no server at %s", addr)
		}
		return s.DialContext(ctx, network, addr)
	}
	return srvs, addrs, &o
}

// memDown makes s look down: it drops its connections and refuses new ones.
func memDown(s *gearmantest.Server) {
	s.Refuse(-1)
	s.CloseClientConnections()
}

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
	_, addrs, opts := memServers(t, 3, nil)
	ctx := testCtx(t)
	wopts := *opts
	wopts.MaxJobs = 4
	workers := newPool(t, addrs, &wopts)
	var mu sync.Mutex
	served := map[string]int{}
	workers.Register("where", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		mu.Lock()
		served[task.Addr()]++
		mu.Unlock()
		_, err := task.Write([]byte(task.Addr()))
		return err
	}), nil)
	clients := newPool(t, addrs, opts)
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
	_, addrs, opts := memServers(t, 2, &gearman.PoolOptions{Strategy: gearman.Sequence})
	ctx := testCtx(t)
	p := newPool(t, addrs, opts)
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
	t.Run("gearmand", func(t *testing.T) {
		addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
		testPoolFailover(t, addrs, nil,
			func() { peertest.StopGearmand(t, addrs[1]) },
			func() { peertest.GearmandAt(t, addrs[1]) })
	})
	t.Run("gearmantest", func(t *testing.T) {
		srvs, addrs, opts := memServers(t, 2, nil)
		testPoolFailover(t, addrs, opts,
			func() { memDown(srvs[1]) },
			func() { srvs[1].Refuse(0) })
	})
}

func testPoolFailover(t *testing.T, addrs []string, opts *gearman.PoolOptions, stop, restart func()) {
	ctx := testCtx(t)
	var wopts gearman.PoolOptions
	if opts != nil {
		wopts = *opts
	}
	wopts.MaxJobs = 8
	workers := newPool(t, addrs, &wopts)
	var perServer sync.Map
	workers.Register("echo", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		n, _ := perServer.LoadOrStore(task.Addr(), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		_, err := task.Write([]byte("ok"))
		return err
	}), nil)
	clients := newPool(t, addrs, opts)
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
	stop()
	<-done
	waitLive(t, ctx, clients, 1)
	run(20)

	restart()
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
	synctest.Test(t, func(t *testing.T) {
		srvs, addrs, opts := memServers(t, 1, nil)
		srvs[0].Refuse(-1)
		p := newPool(t, addrs, opts)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := p.Submit(ctx, gearman.Job{Func: "x"})
		if !errors.Is(err, context.DeadlineExceeded) || !gearman.SafeToRetry(err) {
			t.Fatalf("got %v; want a deadline error that is safe to retry", err)
		}
		select {
		case e := <-p.Events():
			if e.Kind != gearman.DialFailed || e.Addr != addrs[0] || e.Err == nil {
				t.Errorf("event %+v; want a dial failure", e)
			}
		default:
			t.Error("no event for the failed dials")
		}
	})
}

// MaxJobs is one budget across all servers. In a synctest bubble,
// synctest.Wait shows the state once every goroutine is idle: no sleep is
// needed to give a third job the chance to start wrongly.
func TestPoolJobBudget(t *testing.T) {
	synctest.Test(t, testPoolJobBudget)
}

func testPoolJobBudget(t *testing.T) {
	srvs, addrs, opts := memServers(t, 2, nil)
	ctx := t.Context()
	wopts := *opts
	wopts.MaxJobs = 2
	workers := newPool(t, addrs, &wopts)
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
	clients := newPool(t, addrs, opts)
	synctest.Wait() // both pools are up, the workers registered
	var tasks []*gearman.Task
	for i := range 6 {
		task, err := clients.Submit(ctx, gearman.Job{Func: "hold", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	synctest.Wait() // the workers took every job they may
	held, queued := 0, 0
	for _, s := range srvs {
		f := s.Func("hold")
		held += f.Running
		queued += f.Queued[gearman.Normal]
	}
	if running.Load() != 2 || held != 2 || queued != 4 {
		t.Errorf("%d handlers running, %d jobs held, %d queued; want 2, 2, 4", running.Load(), held, queued)
	}
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
	srvs, addrs, opts := memServers(t, 2, nil)
	up, down := addrs[0], addrs[1]
	srvs[1].Refuse(-1)
	ctx := testCtx(t)
	p := newPool(t, []string{up, down}, opts)
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

func TestPoolAdmin(t *testing.T) {
	addrs := []string{peertest.Gearmand(t), peertest.Gearmand(t)}
	ctx := testCtx(t)
	p := newPool(t, addrs, nil)
	p.Register("adm", reverseHandler, nil)
	waitLive(t, ctx, p, 2)
	// An echo answered on each connection means the server has handled the
	// registration sent before it.
	for _, r := range p.Echo(ctx) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	a := p.Admin()
	defer a.Close()
	res := a.Status(ctx)
	if len(res) != 2 {
		t.Fatalf("answers %+v; want one per server", res)
	}
	for i, r := range res {
		if r.Addr != addrs[i] || r.Err != nil || len(r.Value) != 1 || r.Value[0].Function != "adm" || r.Value[0].Workers != 1 {
			t.Errorf("server %d: %+v; want its own address and one worker of adm", i, r)
		}
	}
}

// Pool.Do goes on to the next server when one refuses the job (its queue is
// full), and the job runs there.
func TestPoolDoRetriesRefusal(t *testing.T) {
	ctx := testCtx(t)
	full := srvStart(t, &gearman.Server{MaxQueue: 1})
	other := srvStart(t, &gearman.Server{})
	// Fill the first server's queue: a background job nobody works on.
	c := dial(t, full, nil)
	if _, err := c.Submit(ctx, gearman.Job{Func: "up", Background: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, gearman.Job{Func: "up"}); !gearman.SafeToRetry(err) {
		t.Fatalf("Do on a full queue: %v; want a refusal SafeToRetry", err)
	}
	w := dial(t, other, nil)
	w.Register("up", gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) {
		return bytes.ToUpper(p), nil
	}), nil)
	p := newPool(t, []string{full, other}, &gearman.PoolOptions{Strategy: gearman.Sequence})
	waitLive(t, ctx, p, 2)
	got, err := p.Do(ctx, gearman.Job{Func: "up", Data: []byte("abc")})
	if err != nil || string(got) != "ABC" {
		t.Fatalf("Pool.Do: %q, %v; want ABC from the second server", got, err)
	}
}
