package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// A submit larger than the server's MaxPacketSize: the server answers ERROR
// ARGUMENT_TOO_LARGE and closes the connection while the packet is still
// being written, so the client's write fails too. The caller must get the
// server's refusal, every time, whichever of the client's writer and reader
// meets the end first (it got a lost connection or a short payload one time
// in three), and SafeToRetry must hold: the server made no job.
func TestOversizedSubmitGetsServerError(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxPacketSize: 64 << 10})
	const size = 16 << 20 // more than the sockets' buffers take
	payload := make([]byte, size)
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, c *gearman.Conn) (writeErr, closeErr, resultErr error)
	}{
		{"Do", func(ctx context.Context, c *gearman.Conn) (error, error, error) {
			_, err := c.Do(ctx, gearman.Job{Func: "f", Data: payload})
			return nil, nil, err
		}},
		{"Submit background", func(ctx context.Context, c *gearman.Conn) (error, error, error) {
			_, err := c.Submit(ctx, gearman.Job{Func: "f", Data: payload, Background: true})
			return nil, nil, err
		}},
		{"Open, Write, Close", func(ctx context.Context, c *gearman.Conn) (error, error, error) {
			task, err := c.Open(ctx, gearman.Job{Func: "f"})
			if err != nil {
				return err, nil, nil
			}
			_, werr := io.Copy(task, bytes.NewReader(payload))
			cerr := task.Close()
			_, rerr := task.Result(ctx)
			return werr, cerr, rerr
		}},
		{"declared Size", func(ctx context.Context, c *gearman.Conn) (error, error, error) {
			task, err := c.Open(ctx, gearman.Job{Func: "f", Size: size})
			if err != nil {
				return err, nil, nil
			}
			_, werr := io.Copy(task, bytes.NewReader(payload))
			if werr == nil {
				return errors.New("io.Copy of an oversized payload succeeded"), nil, nil
			}
			cerr := task.Close()
			_, rerr := task.Result(ctx)
			return werr, cerr, rerr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := dial(t, addr, nil)
			w, cl, r := tc.run(ctx, c)
			if r == nil {
				t.Fatal("the job of an oversized submit succeeded")
			}
			for i, err := range []error{w, cl, r} {
				if err == nil {
					continue
				}
				var se *gearman.ServerError
				if !errors.As(err, &se) || se.Code != "ARGUMENT_TOO_LARGE" {
					t.Errorf("%s: %v; want the server's ERROR ARGUMENT_TOO_LARGE", []string{"write", "close", "result"}[i], err)
				}
				if !gearman.SafeToRetry(err) {
					t.Errorf("%s: SafeToRetry(%v) = false; the server refused the job", []string{"write", "close", "result"}[i], err)
				}
				if errors.Is(err, gearman.ErrShortPayload) || errors.Is(err, gearman.ErrConnLost) {
					t.Errorf("%s: %v blames the caller or the network", []string{"write", "close", "result"}[i], err)
				}
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the connection the server closed is still up")
			}
		})
	}
}
