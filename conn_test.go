package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

func dial(t *testing.T, addr string, opts *gearman.Options) *gearman.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := gearman.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func TestSmoke(t *testing.T) {
	eachServer(t, testSmoke)
}

func testSmoke(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	if err := w.Register("reverse", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return reverse(p), nil
	}), nil); err != nil {
		t.Fatal(err)
	}
	w.Register("boom", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, errors.New("kaput")
	}), nil)
	c := dial(t, addr, nil)
	task, err := c.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.Result(ctx)
	if err != nil || string(got) != "olleh" {
		t.Fatalf("got %q, %v", got, err)
	}
	task, err = c.Submit(ctx, gearman.Job{Func: "boom", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = task.Result(ctx)
	var je *gearman.JobException
	if !errors.As(err, &je) || je.Message != "kaput" {
		t.Fatalf("got %v, want exception kaput", err)
	}
	// streamed
	st, err := c.Open(ctx, gearman.Job{Func: "reverse"})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(st, bytes.NewReader([]byte("abc")))
	st.Close()
	out, err := io.ReadAll(st)
	if err != nil || string(out) != "cba" {
		t.Fatalf("got %q, %v", out, err)
	}
}

// eachServer runs f against the C gearmand and against our own server, each
// started afresh for the subtest.
func eachServer(t *testing.T, f func(t *testing.T, addr string)) {
	t.Run("gearmand", func(t *testing.T) { f(t, peertest.Gearmand(t)) })
	t.Run("ours", func(t *testing.T) { f(t, srvStart(t, &gearman.Server{})) })
}

// Do returns a job's result, or its failure, in one call; a background job
// returns once created; a job that never runs ends with its context.
func TestDo(t *testing.T) {
	eachServer(t, testDo)
}

func testDo(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	w.Register("reverse", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return reverse(p), nil
	}), nil)
	w.Register("fail", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		return gearman.ErrJobFailed
	}), nil)
	c := dial(t, addr, nil)
	for i := range 20 {
		payload := []byte(fmt.Sprintf("payload %d", i))
		got, err := c.Do(ctx, gearman.Job{Func: "reverse", Data: payload})
		if err != nil || !bytes.Equal(got, reverse(payload)) {
			t.Fatalf("Do reverse: %q, %v; want %q", got, err, reverse(payload))
		}
	}
	if _, err := c.Do(ctx, gearman.Job{Func: "fail"}); !errors.Is(err, gearman.ErrJobFailed) {
		t.Errorf("Do fail: %v; want ErrJobFailed", err)
	}
	if got, err := c.Do(ctx, gearman.Job{Func: "nobody", Background: true}); err != nil || got != nil {
		t.Errorf("Do background: %q, %v; want nil, nil", got, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Do(short, gearman.Job{Func: "nobody"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do with no worker: %v; want DeadlineExceeded", err)
	}
	// The connection goes on after an abandoned job.
	if got, err := c.Do(ctx, gearman.Job{Func: "reverse", Data: []byte("ab")}); err != nil || string(got) != "ba" {
		t.Errorf("Do after an abandoned job: %q, %v", got, err)
	}
	// A result far larger than the task's buffer, and one in many WORK_DATA
	// packets, come whole: nobody reads the task while Do waits.
	w.Register("chunks", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		for i := range 50 {
			if _, err := fmt.Fprintf(task, "chunk %d;", i); err != nil {
				return err
			}
		}
		return nil
	}), nil)
	small := dial(t, addr, &gearman.Options{TaskBuffer: 1 << 10})
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<10) // 320 KiB
	if got, err := small.Do(ctx, gearman.Job{Func: "reverse", Data: big}); err != nil || !bytes.Equal(got, reverse(big)) {
		t.Errorf("Do with a 320 KiB result: %d bytes, %v", len(got), err)
	}
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "chunk %d;", i)
	}
	if got, err := small.Do(ctx, gearman.Job{Func: "chunks"}); err != nil || string(got) != want.String() {
		t.Errorf("Do with a chunked result: %q, %v", got, err)
	}
}
