package gearman_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// slotGate is a handler whose jobs run until released, each reporting its
// payload when it starts.
type slotGate struct {
	started chan string
	mu      sync.Mutex
	release map[string]chan struct{}
	opened  map[string]bool
	all     bool // every job runs through
}

func newSlotGate() *slotGate {
	return &slotGate{started: make(chan string, 1000), release: map[string]chan struct{}{}, opened: map[string]bool{}}
}

func (g *slotGate) ch(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.release[name]
	if c == nil {
		c = make(chan struct{})
		g.release[name] = c
		if g.all {
			g.opened[name] = true
			close(c)
		}
	}
	return c
}

func (g *slotGate) handler() gearman.Handler {
	return gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		g.started <- string(p)
		select {
		case <-g.ch(string(p)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return p, nil
	})
}

func (g *slotGate) open(name string) {
	c := g.ch(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened[name] {
		g.opened[name] = true
		close(c)
	}
}

// openAll lets every job, running or to come, end.
func (g *slotGate) openAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.all = true
	for name, c := range g.release {
		if !g.opened[name] {
			g.opened[name] = true
			close(c)
		}
	}
}

// next returns the payload of the next job to start.
func (g *slotGate) next(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case s := <-g.started:
		return s
	case <-ctx.Done():
		t.Fatalf("no job started: %v", ctx.Err())
		return ""
	}
}

// none checks that no job starts for a while (a check that can only fail
// late, never pass wrongly).
func (g *slotGate) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case s := <-g.started:
		t.Fatalf("job %s started; want none", s)
	case <-time.After(d):
	}
}

// A flood of low-priority jobs takes 7 of the pool's 10 slots; the 3
// reserved ones go to high-priority jobs as they come. On our server over
// two servers; on gearmand the pool keeps the cap and hands the next free
// slot to the high job.
func TestReservedHighSlots(t *testing.T) {
	t.Run("ours", func(t *testing.T) {
		testReservedHigh(t, []string{srvStart(t, &gearman.Server{}), srvStart(t, &gearman.Server{})}, true)
	})
	t.Run("gearmand", func(t *testing.T) {
		testReservedHigh(t, []string{peertest.Gearmand(t)}, false)
	})
}

func testReservedHigh(t *testing.T, addrs []string, reserves bool) {
	ctx := testCtx(t)
	g := newSlotGate()
	w, err := gearman.NewPool(addrs, &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 10}, ReservedHigh: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Register("work", g.handler(), nil); err != nil {
		t.Fatal(err)
	}
	c, err := gearman.NewPool(addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tasks []*gearman.Task
	submit := func(name string, prio gearman.Priority) {
		t.Helper()
		task, err := c.Submit(ctx, gearman.Job{Func: "work", Data: []byte(name), Priority: prio})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	const flood = 30
	for i := range flood {
		prio := gearman.Low
		if i%2 == 1 {
			prio = gearman.Normal
		}
		submit("low"+string(rune('A'+i)), prio)
	}
	running := map[string]bool{}
	for range 7 {
		running[g.next(t, ctx)] = true
	}
	for s := range running {
		if !strings.HasPrefix(s, "low") {
			t.Fatalf("%s started in the flood", s)
		}
	}
	if reserves {
		// The three reserved slots take high jobs at once, and the
		// flood never gets an eighth slot.
		for _, h := range []string{"high1", "high2", "high3"} {
			submit(h, gearman.High)
		}
		for range 3 {
			if s := g.next(t, ctx); !strings.HasPrefix(s, "high") {
				t.Fatalf("%s took a reserved slot", s)
			}
		}
		g.none(t, 200*time.Millisecond) // 10 running: nothing more
		// A high job's end frees a slot the flood may not take.
		g.open("high1")
		g.none(t, 200*time.Millisecond)
		submit("high4", gearman.High)
		if s := g.next(t, ctx); s != "high4" {
			t.Fatalf("%s started; want high4", s)
		}
		// A low job's end gives the flood its slot back.
		var low string
		for s := range running {
			low = s
			break
		}
		g.open(low)
		if s := g.next(t, ctx); !strings.HasPrefix(s, "low") {
			t.Fatalf("%s started after a low job ended; want the next low one", s)
		}
	} else {
		// gearmand: no slot beyond the cap, and the high job goes first
		// when one frees.
		g.none(t, 200*time.Millisecond)
		submit("high1", gearman.High)
		g.none(t, 200*time.Millisecond)
		var low string
		for s := range running {
			low = s
			break
		}
		g.open(low)
		if s := g.next(t, ctx); s != "high1" {
			t.Fatalf("%s started after a low job ended; want high1", s)
		}
	}
	g.openAll()
	for _, task := range tasks {
		if _, err := task.Result(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
