package gearman_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// Every error raised before a byte of the submit was sent is SafeToRetry,
// as its doc says, on a Conn and on a Pool; and the server made no job.
func TestSafeToRetryBeforeSending(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	c := dial(t, addr, &gearman.Options{MaxPayload: 16})
	closed := dial(t, addr, nil)
	closed.Close()
	p := newPool(t, []string{addr}, nil)
	closedPool := newPool(t, []string{addr}, nil)
	closedPool.Close()
	done, cancel := context.WithCancel(ctx)
	cancel()

	atFg := gearman.Job{Func: "f", At: time.Now().Add(time.Hour)}
	longUnique := gearman.Job{Func: "f", Unique: strings.Repeat("u", gearman.MaxUniqueLen+1)}
	schedHigh := gearman.Job{Func: "f", Background: true, Schedule: &gearman.Schedule{}, Priority: gearman.High}
	ok := gearman.Job{Func: "f", Background: true}
	submit := func(s interface {
		Submit(context.Context, gearman.Job) (*gearman.Task, error)
	}, ctx context.Context, j gearman.Job) func() error {
		return func() error { _, err := s.Submit(ctx, j); return err }
	}
	do := func(s interface {
		Do(context.Context, gearman.Job) ([]byte, error)
	}, ctx context.Context, j gearman.Job) func() error {
		return func() error { _, err := s.Do(ctx, j); return err }
	}
	open := func(s interface {
		Open(context.Context, gearman.Job) (*gearman.Task, error)
	}, j gearman.Job) func() error {
		return func() error { _, err := s.Open(ctx, j); return err }
	}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Conn.Do, At without Background", do(c, ctx, atFg)},
		{"Conn.Submit, At without Background", submit(c, ctx, atFg)},
		{"Conn.Open, At without Background", open(c, atFg)},
		{"Conn.Submit, 65-byte unique", submit(c, ctx, longUnique)},
		{"Conn.Do, no function", do(c, ctx, gearman.Job{})},
		{"Conn.Submit, high-priority schedule", submit(c, ctx, schedHigh)},
		{"Conn.Open, Data longer than Size", open(c, gearman.Job{Func: "f", Data: []byte("abc"), Size: 2})},
		{"Conn.Do, context done", do(c, done, ok)},
		{"Conn.Submit, context done", submit(c, done, ok)},
		{"Conn.Do, connection closed", do(closed, ctx, ok)},
		{"Conn.Submit, connection closed", submit(closed, ctx, ok)},
		{"Conn.Open, connection closed", open(closed, ok)},
		{"Conn.Open with Size, connection closed", open(closed, gearman.Job{Func: "f", Size: 10})},
		{"Task.Write over MaxPayload", func() error {
			task, err := c.Open(ctx, ok)
			if err != nil {
				return err
			}
			defer task.CloseWithError(context.Canceled)
			_, err = task.Write(make([]byte, 17))
			return err
		}},
		{"Pool.Do, At without Background", do(p, ctx, atFg)},
		{"Pool.Submit, 65-byte unique", submit(p, ctx, longUnique)},
		{"Pool.Open, 65-byte unique", open(p, longUnique)},
		{"Pool.Submit, pool closed", submit(closedPool, ctx, ok)},
		{"Pool.Open, pool closed", open(closedPool, ok)},
	} {
		err := tc.run()
		if err == nil || !gearman.SafeToRetry(err) {
			t.Errorf("%s: SafeToRetry(%v) = false; want an error, safe to retry", tc.name, err)
		}
	}
	a, err := gearman.DialAdmin(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st {
		if f.Queued > 0 {
			t.Errorf("the server holds jobs: %+v", f)
		}
	}
}
