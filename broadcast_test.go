package gearman_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// inbox is a broadcast handler that records the messages it gets and
// answers with its name and the message.
type inbox struct {
	name string
	mu   sync.Mutex
	got  []string
}

func (b *inbox) handler() gearman.Handler {
	return gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		b.mu.Lock()
		b.got = append(b.got, string(p))
		b.mu.Unlock()
		return []byte(b.name + ":" + string(p)), nil
	})
}

func (b *inbox) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// waitBroadcastees waits until the servers list n distinct broadcast ids
// (of workers that serve fn, when set).
func waitBroadcastees(t *testing.T, ctx context.Context, opts *gearman.AdminOptions, n int, addrs ...string) {
	t.Helper()
	g := gearman.NewAdminGroup(addrs, opts)
	defer g.Close()
	var ids map[string]bool
	for ctx.Err() == nil {
		ids = map[string]bool{}
		for _, s := range g.Workers(ctx) {
			for _, w := range s.Value {
				for _, f := range w.Functions {
					if id, ok := strings.CutPrefix(f, gearman.BroadcastPrefix); ok {
						ids[id] = true
					}
				}
			}
		}
		if len(ids) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("servers list broadcast workers %v; want %d", ids, n)
}

// answers collects a broadcast's replies by worker id.
func answers(t *testing.T, b *gearman.Broadcast) map[string]gearman.BroadcastReply {
	t.Helper()
	out := map[string]gearman.BroadcastReply{}
	for r := range b.Replies() {
		if _, dup := out[r.Worker]; dup {
			t.Errorf("two replies from %s", r.Worker)
		}
		out[r.Worker] = r
	}
	return out
}

// Five workers on two servers: three pools connected to both, one
// connection to the first, and the C gearman tool on the second (or a
// pool of ours). Each gets the message once and
// answers; a Func broadcast reaches only the workers of that function; a
// worker that joins after a broadcast does not get it.
func TestBroadcastFiveWorkers(t *testing.T) {
	t.Run("gearmand", func(t *testing.T) {
		gm := peertest.Require(t, "gearman")
		a, b := peertest.Gearmand(t), peertest.Gearmand(t)
		h, p := peertest.HostPort(t, b)
		peertest.Start(t, gm, "-h", h, "-p", p, "-w", "-f", gearman.BroadcastPrefix+"cworker", "--", "cat")
		testBroadcastFive(t, a, b, true)
	})
	t.Run("ours", func(t *testing.T) {
		gm := peertest.Require(t, "gearman")
		a, b := srvStart(t, &gearman.Server{}), srvStart(t, &gearman.Server{})
		h, p := peertest.HostPort(t, b)
		peertest.Start(t, gm, "-h", h, "-p", p, "-w", "-f", gearman.BroadcastPrefix+"cworker", "--", "cat")
		testBroadcastFive(t, a, b, true)
	})
	t.Run("ours, Go workers only", func(t *testing.T) {
		testBroadcastFive(t, srvStart(t, &gearman.Server{}), srvStart(t, &gearman.Server{}), false)
	})
}

func testBroadcastFive(t *testing.T, a, b string, cTool bool) {
	ctx := testCtx(t)
	var boxes []*inbox
	ids := map[string]*inbox{}
	for i := range 3 {
		box := &inbox{name: fmt.Sprintf("pool%d", i)}
		boxes = append(boxes, box)
		pool, err := gearman.NewPool([]string{a, b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		id, err := pool.HandleBroadcasts(box.handler())
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = box
		if err := pool.Register("resize", reverseHandler, nil); err != nil {
			t.Fatal(err)
		}
	}
	conn := dial(t, a, nil)
	connBox := &inbox{name: "conn"}
	id, err := conn.HandleBroadcasts(connBox.handler())
	if err != nil {
		t.Fatal(err)
	}
	ids[id] = connBox
	if !cTool {
		box := &inbox{name: "fifth"}
		pool, err := gearman.NewPool([]string{b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		id, err := pool.HandleBroadcasts(box.handler())
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = box
	}
	waitBroadcastees(t, ctx, nil, 5, a, b)

	client, err := gearman.NewPool([]string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	bc, err := client.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("reload")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bc.Workers()); n != 5 {
		t.Fatalf("broadcast went to %v; want 5 workers", bc.Workers())
	}
	got := answers(t, bc)
	if len(got) != 5 {
		t.Fatalf("%d replies; want 5: %v", len(got), got)
	}
	for id, r := range got {
		want := "reload" // the C tool's cat echoes it
		if box := ids[id]; box != nil {
			want = box.name + ":reload"
		} else if id != "cworker" || !cTool {
			t.Errorf("reply from unknown worker %q", id)
		}
		if r.Err != nil || string(r.Data) != want {
			t.Errorf("worker %s answered %q, %v; want %q", id, r.Data, r.Err, want)
		}
	}
	sent := 0
	for _, s := range bc.Servers() {
		if s.Err != nil {
			t.Errorf("server %s: %v", s.Addr, s.Err)
		}
		sent += s.Value
	}
	if sent != 5 {
		t.Errorf("servers took %v messages; want 5 in all", bc.Servers())
	}

	// Only the pools serve resize.
	bc, err = client.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("resized"), Func: "resize"})
	if err != nil {
		t.Fatal(err)
	}
	got = answers(t, bc)
	if len(got) != 3 {
		t.Errorf("a broadcast to resize's workers got %d replies; want 3: %v", len(got), got)
	}
	for id := range got {
		if box := ids[id]; box == nil || !strings.HasPrefix(box.name, "pool") {
			t.Errorf("worker %s does not serve resize but got its broadcast", id)
		}
	}

	// A worker that joins now gets the next broadcast, not the earlier ones.
	late := &inbox{name: "late"}
	lateConn := dial(t, b, nil)
	if _, err := lateConn.HandleBroadcasts(late.handler()); err != nil {
		t.Fatal(err)
	}
	waitBroadcastees(t, ctx, nil, 6, a, b)
	bc, err = client.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("again")})
	if err != nil {
		t.Fatal(err)
	}
	if got := answers(t, bc); len(got) != 6 {
		t.Errorf("third broadcast got %d replies; want 6", len(got))
	}
	if got := late.messages(); !slices.Equal(got, []string{"again"}) {
		t.Errorf("the late worker got %q; want only the broadcast sent after it joined", got)
	}
	for _, box := range append(boxes, connBox) {
		if got, want := box.messages(), []string{"reload", "resized", "again"}; box != connBox && !slices.Equal(got, want) {
			t.Errorf("%s got %q; want %q", box.name, got, want)
		}
	}
	if got := connBox.messages(); !slices.Equal(got, []string{"reload", "again"}) {
		t.Errorf("conn got %q; want reload and again", got)
	}
}

// A worker whose every slot is busy cannot take the message before the
// broadcast's context ends: its reply says so, and it never gets the
// message afterwards, as the broadcast withdrew it.
func TestBroadcastWithdrawn(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		ctx := testCtx(t)
		w := dial(t, addr, nil) // one slot
		box := &inbox{name: "busy"}
		if _, err := w.HandleBroadcasts(box.handler()); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		started := make(chan struct{})
		w.Register("block", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
			close(started)
			<-release
			return p, nil
		}), nil)
		c := dial(t, addr, nil)
		blocked := mustSubmit(t, ctx, c, "block", "x")
		<-started

		admin, err := gearman.DialAdmin(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		before, err := admin.Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		bc, err := c.Broadcast(bctx, gearman.BroadcastMessage{Data: []byte("late news")})
		if err != nil {
			t.Fatal(err)
		}
		got := bc.Wait()
		if len(got) != 1 || !errors.Is(got[0].Err, context.DeadlineExceeded) {
			t.Fatalf("replies %+v; want one that ran out of time", got)
		}
		// The broadcast has closed its connection; the server drops the
		// message once it has seen it close.
		for {
			now, err := admin.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(now) <= len(before) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(release)
		if _, err := blocked.Result(ctx); err != nil {
			t.Fatal(err)
		}
		// The worker grabs again; a message still queued would run now.
		// An echo job after it shows the worker has looked.
		w.Register("echo", reverseHandler, nil)
		if _, err := c.Do(ctx, gearman.Job{Func: "echo", Data: []byte("ab"), Priority: gearman.Low}); err != nil {
			t.Fatal(err)
		}
		if got := box.messages(); len(got) != 0 {
			t.Errorf("the worker got %q after the broadcast was withdrawn", got)
		}
	})
}

// On gearmantest, as in the tests of a program: every pool of the server
// answers, and Close ends a broadcast a worker does not answer.
func TestBroadcastGearmantest(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	for i := range 3 {
		box := &inbox{name: fmt.Sprint(i)}
		if _, err := srv.Pool(nil).HandleBroadcasts(box.handler()); err != nil {
			t.Fatal(err)
		}
	}
	hang := srv.Pool(nil)
	if _, err := hang.HandleBroadcasts(gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
		<-ctx.Done()
		return ctx.Err()
	})); err != nil {
		t.Fatal(err)
	}
	opts := &gearman.AdminOptions{DialContext: srv.DialContext}
	waitBroadcastees(t, ctx, opts, 4, srv.Addr())
	client := srv.Pool(nil)
	bc, err := client.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for r := range bc.Replies() {
		if r.Err == nil {
			ok++
			if ok == 3 {
				break
			}
		}
	}
	bc.Close()
	if ok != 3 {
		t.Errorf("%d answers; want 3", ok)
	}
	if rest := bc.Wait(); len(rest) != 1 || !errors.Is(rest[0].Err, context.Canceled) {
		t.Errorf("after Close: %+v; want the hanging worker's reply, cancelled", rest)
	}
}

// A handler broadcasts, and its own pool answers too, in its second slot.
func TestBroadcastFromHandler(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	pool := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{MaxJobs: 2}})
	box := &inbox{name: "self"}
	if _, err := pool.HandleBroadcasts(box.handler()); err != nil {
		t.Fatal(err)
	}
	other := &inbox{name: "other"}
	if _, err := srv.Pool(nil).HandleBroadcasts(other.handler()); err != nil {
		t.Fatal(err)
	}
	pool.Register("announce", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		b, err := pool.Broadcast(ctx, gearman.BroadcastMessage{Data: p})
		if err != nil {
			return nil, err
		}
		var names []string
		for r := range b.Replies() {
			if r.Err != nil {
				return nil, r.Err
			}
			names = append(names, string(r.Data))
		}
		slices.Sort(names)
		return []byte(strings.Join(names, ",")), nil
	}), nil)
	waitBroadcastees(t, ctx, &gearman.AdminOptions{DialContext: srv.DialContext}, 2, srv.Addr())
	out, err := srv.Pool(nil).Do(ctx, gearman.Job{Func: "announce", Data: []byte("news")})
	if err != nil || string(out) != "other:news,self:news" {
		t.Fatalf("got %q, %v", out, err)
	}
}
