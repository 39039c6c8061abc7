package gearmantest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// An epoch job due in an hour runs after FastForward(time.Hour), and the
// job is queued by the time FastForward returns.
func TestFastForwardEpoch(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Stall("report")
	p := srv.Pool(nil)
	if _, err := p.Submit(ctx, gearman.Job{Func: "report", Background: true, At: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if f := srv.Func("report"); f.Waiting != 1 || len(f.Queued) != 0 {
		t.Fatalf("before: %+v; want one job waiting", f)
	}
	srv.FastForward(59 * time.Minute)
	if f := srv.Func("report"); f.Waiting != 1 {
		t.Fatalf("a minute early: %+v; want the job still waiting", f)
	}
	before := srv.Now()
	srv.FastForward(time.Minute + time.Second)
	if d := srv.Now().Sub(before); d < time.Minute {
		t.Errorf("Now moved %v; want at least a minute", d)
	}
	if f := srv.Func("report"); f.Waiting != 0 || f.Queued[gearman.Normal] != 1 {
		t.Fatalf("after: %+v; want the job queued", f)
	}
}

// A scheduled job runs once per matching minute.
func TestFastForwardSchedule(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	var runs atomic.Int32
	srv.HandleFunc("hourly", func(ctx context.Context, b []byte) ([]byte, error) {
		runs.Add(1)
		return nil, nil
	})
	p := srv.Pool(nil)
	if _, err := p.Submit(ctx, gearman.Job{Func: "hourly", Background: true, Schedule: &gearman.Schedule{Minute: "0"}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		srv.FastForward(time.Hour)
		if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool {
			return runs.Load() == int32(i) && s.Func("hourly").Running == 0 && s.Func("hourly").Waiting == 1
		}); err != nil {
			t.Fatalf("hour %d: %d runs, %+v: %v", i, runs.Load(), srv.Func("hourly"), err)
		}
	}
}

// A CAN_DO_TIMEOUT expires when the server's clock passes it.
func TestFastForwardTimeout(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	w := srv.Pool(nil)
	started := make(chan struct{})
	w.Register("stuck", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}), &gearman.RegisterOptions{Timeout: time.Minute})
	if err := srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return s.Func("stuck").Workers == 1 }); err != nil {
		t.Fatal(err)
	}
	task, err := srv.Pool(nil).Submit(ctx, gearman.Job{Func: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	srv.FastForward(time.Minute)
	if _, err := task.Result(ctx); !errors.Is(err, gearman.ErrJobFailed) {
		t.Fatalf("got %v; want ErrJobFailed from the timeout", err)
	}
}
