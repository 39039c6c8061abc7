package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
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
	w2 := wiretest.SleepingWorker(t, addr, "f")
	w2.Sync() // asleep before the submit

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

	// PreferStreaming goes on in plain mode.
	w := dial(t, addr, &gearman.Options{PreferStreaming: true})
	if w.Streaming() {
		t.Error("Streaming() is true against gearmand")
	}
	w.Register("reverse", reverseHandler, nil)
	c := dial(t, addr, &gearman.Options{PreferStreaming: true})
	task, err := c.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("plain")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); string(got) != "nialp" || err != nil {
		t.Fatalf("plain job on gearmand: %q, %v", got, err)
	}
}

// copyHandler streams the payload back as the result, upper-cased, chunk
// by chunk, as a filter such as gzip would.
var copyHandler = gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := t.Read(buf)
		if n > 0 {
			if _, werr := t.Write(bytes.ToUpper(buf[:n])); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
})

// streamPair starts our server, a streaming worker serving copyHandler as
// "up", and a streaming client.
func streamPair(t *testing.T) (c, w *gearman.Conn) {
	t.Helper()
	addr := srvStart(t, &gearman.Server{})
	w = dial(t, addr, &gearman.Options{Streaming: true, MaxJobs: 4})
	if err := w.Register("up", copyHandler, nil); err != nil {
		t.Fatal(err)
	}
	c = dial(t, addr, &gearman.Options{Streaming: true})
	return c, w
}

// A payload of a few MiB, written in pieces, comes back whole through the
// extension.
func TestStreamRoundTrip(t *testing.T) {
	c, _ := streamPair(t)
	ctx := testCtx(t)
	for _, size := range []int{0, 1, 1000, 300 << 10, 5<<20 + 7} {
		payload := bytes.Repeat([]byte("abcdefghij"), size/10+1)[:size]
		task, err := c.Open(ctx, gearman.Job{Func: "up"})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := io.Copy(task, bytes.NewReader(payload))
			if err == nil {
				err = task.Close()
			}
			errc <- err
		}()
		got, err := io.ReadAll(task)
		if err != nil {
			t.Fatalf("size %d: read: %v", size, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("size %d: write: %v", size, err)
		}
		if !bytes.Equal(got, bytes.ToUpper(payload)) {
			t.Fatalf("size %d: got %d bytes, want %d", size, len(got), size)
		}
	}
	// Submit (the whole payload at once) goes the same way.
	task, err := c.Submit(ctx, gearman.Job{Func: "up", Data: []byte("small")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); string(got) != "SMALL" || err != nil {
		t.Fatalf("Submit: %q, %v", got, err)
	}
}

// A task whose reader is slow holds back its own worker only: other tasks
// on the same client and worker connections finish meanwhile.
func TestStreamSlowReader(t *testing.T) {
	c, _ := streamPair(t)
	ctx := testCtx(t)
	slow, err := c.Open(ctx, gearman.Job{Func: "up"})
	if err != nil {
		t.Fatal(err)
	}
	// Far more than every window and buffer on the way: the writer must
	// block until the reader drains.
	big := bytes.Repeat([]byte("s"), 8<<20)
	wrote := make(chan error, 1)
	go func() {
		_, err := slow.Write(big)
		if err == nil {
			err = slow.Close()
		}
		wrote <- err
	}()
	for i := range 5 {
		task, err := c.Submit(ctx, gearman.Job{Func: "up", Data: []byte("fast")})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := task.Result(ctx); string(got) != "FAST" || err != nil {
			t.Fatalf("fast task %d: %q, %v", i, got, err)
		}
	}
	select {
	case err := <-wrote:
		t.Fatalf("the slow task's 8 MiB payload went through unread (%v): no flow control", err)
	default:
	}
	got, err := io.ReadAll(slow)
	if err != nil || len(got) != len(big) {
		t.Fatalf("slow task: %d bytes, %v", len(got), err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// A worker killed mid-stream fails the job: the client's reader gets
// ErrJobFailed after the data sent so far, and its writer stops.
func TestStreamWorkerKilled(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	started := make(chan struct{})
	w, err := gearman.Dial(ctx, addr, &gearman.Options{Streaming: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Register("up", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		buf := make([]byte, 1000)
		n, _ := io.ReadFull(task, buf)
		task.Write(buf[:n])
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}), nil)
	c := dial(t, addr, &gearman.Options{Streaming: true})
	task, err := c.Open(ctx, gearman.Job{Func: "up"})
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(task, io.LimitReader(zeros{}, 1<<30))
		wrote <- err
	}()
	<-started
	w.Close()
	got, err := io.ReadAll(task)
	if len(got) != 1000 || !errors.Is(err, gearman.ErrJobFailed) {
		t.Fatalf("got %d bytes, %v; want 1000 then ErrJobFailed", len(got), err)
	}
	if err := <-wrote; err == nil {
		t.Fatal("the payload writer did not stop")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A worker without the extension gets a streamed payload whole once it is
// complete.
func TestStreamPlainWorker(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	w.Register("up", copyHandler, nil)
	c := dial(t, addr, &gearman.Options{Streaming: true})
	payload := bytes.Repeat([]byte("p"), 3<<20)
	task, err := c.Submit(ctx, gearman.Job{Func: "up", Data: payload})
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.Result(ctx)
	if err != nil || !bytes.Equal(got, bytes.ToUpper(payload)) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// PreferStreaming turns streaming on where the server has it.
func TestPreferStreamingOurs(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	c := dial(t, addr, &gearman.Options{PreferStreaming: true})
	if !c.Streaming() {
		t.Error("Streaming() is false against our server")
	}
}

// Streaming a payload through the server and a worker and back allocates a
// small fraction of it in the whole process (client, server and worker):
// the server spools a stream's payload in one window-long buffer that it
// keeps, not in one made anew for every window.
func TestStreamAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocations")
	}
	addr := srvStart(t, &gearman.Server{})
	w := dial(t, addr, &gearman.Options{Streaming: true})
	if err := w.Register("cat", catHandler, nil); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, &gearman.Options{Streaming: true})
	ctx := testCtx(t)
	pipe := func(size int64) { pipeZeros(t, ctx, c, size) }
	pipe(1 << 20) // the connections' buffers
	const size = 32 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	pipe(size)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size/8 {
		t.Errorf("piping %d MiB allocated %d KiB; want at most %d KiB", size>>20, got>>10, size/8>>10)
	}
}

// catHandler streams the payload back as the result, unchanged.
var catHandler = gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
	_, err := io.Copy(t, t)
	return err
})

// pipeZeros streams size zero bytes through c's "cat" function and back.
func pipeZeros(tb testing.TB, ctx context.Context, c *gearman.Conn, size int64) {
	tb.Helper()
	task, err := c.Open(ctx, gearman.Job{Func: "cat"})
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		io.Copy(task, io.LimitReader(zeros{}, size))
		task.Close()
	}()
	if n, err := io.Copy(io.Discard, task); n != size || err != nil {
		tb.Fatalf("got %d bytes, %v; want %d", n, err, size)
	}
}
