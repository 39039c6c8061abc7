package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// A payload of declared size streams to the server in one packet as it is
// written, on a connection of its own: another job on the same pool runs
// while it is half written, and the result is the payload.
func TestSizedPayload(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		ctx := testCtx(t)
		w := dial(t, addr, &gearman.Options{MaxJobs: 2})
		w.Register("copy", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
			_, err := io.Copy(task, task)
			return err
		}), nil)
		w.Register("reverse", reverseHandler, nil)
		p := newPool(t, []string{addr}, nil)
		waitLive(t, ctx, p, 1)

		payload := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
		task, err := p.Open(ctx, gearman.Job{Func: "copy", Size: int64(len(payload)), Data: payload[:100]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.Write(payload[100 : len(payload)/2]); err != nil {
			t.Fatal(err)
		}
		other, err := p.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("meanwhile")})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := other.Result(ctx); err != nil || string(got) != "elihwnaem" {
			t.Fatalf("a job submitted while a payload streams: %q, %v", got, err)
		}
		if _, err := task.Write(payload[len(payload)/2:]); err != nil {
			t.Fatal(err)
		}
		if err := task.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := task.Result(ctx)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("result of %d bytes, %v; want the %d-byte payload", len(got), err, len(payload))
		}
	})
}

// The declared size is checked strictly: a payload too long or too short
// fails the task with a clear error, and nothing is padded or cut.
func TestSizedPayloadChecked(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		name := "packet"
		if streaming {
			name = "chunks"
		}
		t.Run(name, func(t *testing.T) {
			addr := srvStart(t, &gearman.Server{})
			ctx := testCtx(t)
			w := dial(t, addr, nil)
			w.Register("copy", reverseHandler, nil)
			p := newPool(t, []string{addr}, &gearman.PoolOptions{Options: gearman.Options{Streaming: streaming}})
			waitLive(t, ctx, p, 1)

			long, err := p.Open(ctx, gearman.Job{Func: "copy", Size: 4})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := long.Write([]byte("12345")); !errors.Is(err, wire.ErrTooLarge) {
				t.Errorf("writing 5 bytes of 4: %v; want ErrTooLarge", err)
			}
			if _, err := long.Result(ctx); !errors.Is(err, wire.ErrTooLarge) {
				t.Errorf("task after too long a payload: %v", err)
			}

			short, err := p.Open(ctx, gearman.Job{Func: "copy", Size: 4, Data: []byte("12")})
			if err != nil {
				t.Fatal(err)
			}
			if err := short.Close(); !errors.Is(err, gearman.ErrShortPayload) {
				t.Errorf("closing after 2 bytes of 4: %v; want ErrShortPayload", err)
			}
			if _, err := short.Result(ctx); !errors.Is(err, gearman.ErrShortPayload) {
				t.Errorf("task after too short a payload: %v", err)
			}

			// The pool goes on.
			ok, err := p.Open(ctx, gearman.Job{Func: "copy", Size: 4, Data: []byte("abcd")})
			if err != nil {
				t.Fatal(err)
			}
			ok.Close()
			if got, err := ok.Result(ctx); err != nil || string(got) != "dcba" {
				t.Errorf("a good payload after the bad ones: %q, %v", got, err)
			}
		})
	}
}
