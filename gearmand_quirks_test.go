package gearman_test

import (
	"context"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// What AdminClient.CancelJob's doc says: gearmand keeps a cancelled queued
// job, counted in "status" and known to GET_STATUS, until a worker's grab
// drops it without running it; our server removes it at once.
func TestCancelJobCounted(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		gearmand := t.Name() == "TestCancelJobCounted/gearmand"
		ctx := testCtx(t)
		c := dial(t, addr, nil)
		a, err := gearman.DialAdmin(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		task, err := c.Submit(ctx, gearman.Job{Func: "cancelled", Background: true, Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CancelJob(ctx, task.Handle()); err != nil {
			t.Fatal(err)
		}
		queued := func() int {
			st, err := a.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range st {
				if f.Function == "cancelled" {
					return f.Queued
				}
			}
			return 0
		}
		js, err := c.JobStatus(ctx, task.Handle())
		if err != nil {
			t.Fatal(err)
		}
		if gearmand {
			if q := queued(); q != 1 || !js.Known {
				t.Fatalf("after cancel: queued %d, job known %v; want gearmand to keep it counted", q, js.Known)
			}
		} else if q := queued(); q != 0 || js.Known {
			t.Fatalf("after cancel: queued %d, job known %v; want it gone", q, js.Known)
		}
		// A worker's grab clears it, without running it.
		w := dial(t, addr, nil)
		ran := make(chan struct{}, 1)
		w.Register("cancelled", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
			ran <- struct{}{}
			return nil, nil
		}), nil)
		if _, err := w.Echo(ctx, nil); err != nil { // the registration and first grab are through
			t.Fatal(err)
		}
		for queued() != 0 {
			select {
			case <-ctx.Done():
				t.Fatal("the cancelled job is still counted after a worker's grab")
			case <-time.After(10 * time.Millisecond):
			}
		}
		select {
		case <-ran:
			t.Fatal("the cancelled job ran")
		default:
		}
	})
}

// What Job.At's doc says of gearmand: a job due while its workers sleep is
// not run when it is due; the next grab, here woken by another job, runs it.
func TestAtOnGearmandWaitsForAGrab(t *testing.T) {
	addr := peertest.Gearmand(t)
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	w := dial(t, addr, nil)
	ran := make(chan string, 2)
	w.Register("later", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		ran <- string(p)
		return nil, nil
	}), nil)
	if _, err := w.Echo(ctx, nil); err != nil { // asleep now
		t.Fatal(err)
	}
	due := time.Now().Add(2 * time.Second) // far beyond the first grab, which its NOOP brings
	if _, err := c.Submit(ctx, gearman.Job{Func: "later", Background: true, Data: []byte("at"), At: due}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-ran:
		t.Fatalf("%q ran; want gearmand to leave it until a worker grabs", p)
	case <-time.After(time.Until(due) + 1500*time.Millisecond):
	}
	if _, err := c.Submit(ctx, gearman.Job{Func: "later", Background: true, Data: []byte("plain")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case p := <-ran:
			got[p] = true
		case <-ctx.Done():
			t.Fatalf("ran %v; want both jobs once a worker grabs", got)
		}
	}
}
