package gearmantest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// A job running when the connections drop: the client's task fails with
// ErrConnLost, the worker's job is queued again, both pools reconnect,
// and the job runs again on the reconnected worker.
func TestCloseClientConnections(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	running := make(chan struct{}, 2)
	release := make(chan struct{})
	srv.HandleFunc("hold", func(ctx context.Context, b []byte) ([]byte, error) {
		running <- struct{}{}
		select {
		case <-release:
			return b, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	p := srv.Pool(nil)
	task, err := p.Submit(ctx, gearman.Job{Func: "hold", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, gearman.Job{Func: "hold", Background: true}); err != nil {
		t.Fatal(err)
	}
	<-running
	<-running
	srv.CloseClientConnections()
	if _, err := task.Result(ctx); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("running task: %v; want ErrConnLost", err)
	}
	// The background job survives on the server and runs again once the
	// fake worker has reconnected.
	<-running
	close(release)
	if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool {
		f := s.Func("hold")
		return f.Running == 0 && len(f.Queued) == 0
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := submit(t, ctx, p, gearman.Job{Func: "hold", Data: []byte("again")}); err != nil || string(got) != "again" {
		t.Fatalf("after reconnecting: %q, %v", got, err)
	}
}

func TestRefuse(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	p := srv.Pool(&gearman.PoolOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	waitEvent(t, ctx, p, gearman.Up)
	srv.Refuse(-1)
	srv.CloseClientConnections()
	waitEvent(t, ctx, p, gearman.Down)
	waitEvent(t, ctx, p, gearman.DialFailed)
	if _, err := srv.Dial(ctx); err == nil {
		t.Fatal("Dial succeeded while the server refuses")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.Submit(short, gearman.Job{Func: "f"}); !gearman.SafeToRetry(err) {
		t.Fatalf("submit while refused: %v; want an error safe to retry", err)
	}
	srv.Refuse(0)
	waitEvent(t, ctx, p, gearman.Up)
	if _, err := p.Submit(ctx, gearman.Job{Func: "f", Background: true}); err != nil {
		t.Fatalf("submit after Refuse(0): %v", err)
	}
}

// Refuse's time is the server's clock: FastForward ends it.
func TestRefuseFastForward(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Refuse(time.Hour)
	if _, err := srv.Dial(ctx); err == nil {
		t.Fatal("Dial succeeded while the server refuses")
	}
	srv.FastForward(time.Hour)
	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatalf("Dial after the refusal: %v", err)
	}
	c.Close()
}

// waitEvent waits for an event of the kind from p.
func waitEvent(t *testing.T, ctx context.Context, p *gearman.Pool, kind gearman.EventKind) {
	t.Helper()
	for {
		select {
		case e := <-p.Events():
			if e.Kind == kind {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no %v event: %v", kind, ctx.Err())
		}
	}
}

// Over TCP, a pool's connection that nobody reads between jobs (its callers
// read their own replies: see gearman.Conn) still gives way at once when the
// server drops it: the next Do and Submit, right after the drop, wait for the
// reconnection instead of failing. The next job comes 2 ms after the drop,
// long before a connection left unread checks on its own (20 ms).
func TestTCPDropBetweenJobs(t *testing.T) {
	srv := gearmantest.NewTCPServer(t)
	srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	ctx := testCtx(t)
	p := srv.Pool(&gearman.PoolOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	for i := range 3 {
		if got, err := p.Do(ctx, gearman.Job{Func: "echo", Data: []byte("before")}); err != nil || string(got) != "before" {
			t.Fatalf("round %d, before the drop: %q, %v", i, got, err)
		}
		srv.CloseClientConnections()
		time.Sleep(2 * time.Millisecond) // the drop reaches the client's socket
		if i%2 == 0 {
			if got, err := p.Do(ctx, gearman.Job{Func: "echo", Data: []byte("after")}); err != nil || string(got) != "after" {
				t.Fatalf("round %d, Do after the drop: %q, %v", i, got, err)
			}
		} else {
			task, err := p.Submit(ctx, gearman.Job{Func: "echo", Data: []byte("after")})
			if err != nil {
				t.Fatalf("round %d, Submit after the drop: %v", i, err)
			}
			if got, err := task.Result(ctx); err != nil || string(got) != "after" {
				t.Fatalf("round %d, result after the drop: %q, %v", i, got, err)
			}
		}
	}
}
