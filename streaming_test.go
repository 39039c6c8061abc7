package gearman_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// Our server agrees to streaming; the connection says so.
func TestStreamingOption(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	c := dial(t, addr, &gearman.Options{Streaming: true})
	if !c.Streaming() {
		t.Fatal("Streaming() = false after Options.Streaming against our server")
	}
	if plain := dial(t, addr, nil); plain.Streaming() {
		t.Fatal("Streaming() = true without Options.Streaming")
	}
}

// A streaming connection may not submit a foreground job with a unique id;
// a background one is fine, and the connection goes on.
func TestStreamingUniqueRefused(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	c := dial(t, addr, &gearman.Options{Streaming: true})
	_, err := c.Submit(ctx, gearman.Job{Func: "f", Unique: "u1", Data: []byte("x")})
	var se *gearman.ServerError
	if !errors.As(err, &se) || se.Code != "UNIQUE_NOT_ALLOWED" || !gearman.SafeToRetry(err) {
		t.Fatalf("foreground unique submit: %v; want ServerError UNIQUE_NOT_ALLOWED, safe to retry", err)
	}
	task, err := c.Submit(ctx, gearman.Job{Func: "f", Unique: "u1", Data: []byte("x"), Background: true})
	if err != nil || task.Handle() == "" {
		t.Fatalf("background unique submit: %v", err)
	}
	if _, err := c.Echo(ctx, []byte("still up")); err != nil {
		t.Fatal(err)
	}
}

// A streaming worker that disconnects mid-job fails the job for its client,
// after the WORK_DATA it sent, instead of having it run again.
func TestStreamingWorkerLostFails(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	w := wiretest.Dial(t, addr)
	w.Send(wire.OptionReq, "streaming")
	w.Expect(wire.OptionRes, "streaming")
	w.Send(wire.CanDo, "f")
	// A second, plain worker would get the job if it were requeued.
	w2 := srvWorker(t, addr, "f")

	c := dial(t, addr, nil)
	task, err := c.Submit(ctx, gearman.Job{Func: "f", Data: []byte("in")})
	if err != nil {
		t.Fatal(err)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, task.Handle(), "f", "", "in")
	w.Send(wire.WorkData, task.Handle(), "part-")
	w.C.Close()

	got, err := io.ReadAll(task)
	if string(got) != "part-" || !errors.Is(err, gearman.ErrJobFailed) {
		t.Fatalf("got %q, %v; want \"part-\" then ErrJobFailed", got, err)
	}
	w2.Expect(wire.Noop) // for the submit
	w2.Send(wire.GrabJobUniq)
	w2.Expect(wire.NoJob) // nothing was requeued
}

// gearmand does not know streaming: Dial says so clearly, a pool reports it
// as a failed dial, and a plain connection still works.
func TestStreamingGearmand(t *testing.T) {
	addr := peertest.Gearmand(t)
	ctx := testCtx(t)
	_, err := gearman.Dial(ctx, addr, &gearman.Options{Streaming: true})
	var se *gearman.ServerError
	if !errors.Is(err, gearman.ErrNotSupported) || !errors.As(err, &se) || se.Code != "UNKNOWN_OPTION" ||
		!strings.Contains(err.Error(), "does not support streaming") {
		t.Fatalf("Dial with Streaming against gearmand: %v; want ErrNotSupported saying streaming is not supported", err)
	}

	p, err := gearman.NewPool([]string{addr}, &gearman.PoolOptions{Options: gearman.Options{Streaming: true}, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	select {
	case ev := <-p.Events():
		if ev.Kind != gearman.DialFailed || !errors.Is(ev.Err, gearman.ErrNotSupported) {
			t.Errorf("pool event %v %v; want DialFailed wrapping ErrNotSupported", ev.Kind, ev.Err)
		}
	case <-ctx.Done():
		t.Fatal("no pool event")
	}

	w := dial(t, addr, nil)
	w.Register("reverse", reverseHandler, nil)
	c := dial(t, addr, nil)
	task, err := c.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("plain")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); string(got) != "nialp" || err != nil {
		t.Fatalf("plain job on gearmand: %q, %v", got, err)
	}
}
