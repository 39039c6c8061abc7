package gearman_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// The README's and package doc's sequential pattern (write the payload,
// Close, then read the result) works on a plain connection, which holds the
// payload until Close, whatever the result's size; and with streaming when
// the result fits the task's windows. With streaming and a result that
// grows with the payload it cannot: the worker stops reading the payload
// once its result window is full, and the payload's Write waits for credit
// that never comes, until the task's context ends (as the docs say).
// Writing and reading at once works.
func TestSequentialPattern(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	sum := gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
		h := sha256.New()
		if _, err := io.Copy(h, t); err != nil {
			return err
		}
		_, err := t.Write(h.Sum(nil))
		return err
	})
	for _, mode := range []struct {
		name string
		opts *gearman.Options
	}{{"plain", nil}, {"streaming", &gearman.Options{Streaming: true}}} {
		w := dial(t, addr, mode.opts)
		w.Register("cat-"+mode.name, catHandler, nil)
		w.Register("sum-"+mode.name, sum, nil)
	}
	const size = 4 << 20 // far more than the windows and buffers
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	want := sha256.Sum256(payload)
	sequential := func(ctx context.Context, c *gearman.Conn, fn string) ([]byte, error) {
		task, err := c.Open(ctx, gearman.Job{Func: fn})
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(task, bytes.NewReader(payload)); err != nil {
			return nil, err
		}
		if err := task.Close(); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		_, err = io.Copy(&out, task)
		return out.Bytes(), err
	}
	for _, tc := range []struct {
		name, fn string
		opts     *gearman.Options
		want     []byte // nil: blocks until the context ends
	}{
		{"plain, large result", "cat-plain", nil, payload},
		{"plain, small result", "sum-plain", nil, want[:]},
		{"streaming, small result", "sum-streaming", &gearman.Options{Streaming: true}, want[:]},
		{"streaming, large result", "cat-streaming", &gearman.Options{Streaming: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, tc.opts)
			wait := 20 * time.Second
			if tc.want == nil {
				wait = 500 * time.Millisecond // it blocks until then
			}
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			got, err := sequential(ctx, c, tc.fn)
			switch {
			case tc.want == nil && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("got %d bytes, %v; want it to block until the context ends", len(got), err)
			case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want)):
				t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
			}
		})
	}
	t.Run("streaming, large result, at once", func(t *testing.T) {
		c := dial(t, addr, &gearman.Options{Streaming: true})
		ctx := testCtx(t)
		task, err := c.Open(ctx, gearman.Job{Func: "cat-streaming"})
		if err != nil {
			t.Fatal(err)
		}
		werr := make(chan error, 1)
		go func() {
			_, err := io.Copy(task, bytes.NewReader(payload))
			if err == nil {
				err = task.Close()
			}
			werr <- err
		}()
		var out bytes.Buffer
		_, err = io.Copy(&out, task)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if err != nil || !bytes.Equal(out.Bytes(), payload) {
			t.Fatalf("got %d bytes, %v; want the payload back", out.Len(), err)
		}
	})
}
