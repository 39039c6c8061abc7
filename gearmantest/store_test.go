package gearmantest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// A scheduled job kept in a store directory keeps its schedule across a
// restart: it waits for its next time on the new server, runs then, and
// waits again.
func TestStoreDirKeepsSchedules(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	var runs atomic.Int32
	count := func(context.Context, []byte) ([]byte, error) { runs.Add(1); return nil, nil }
	hourlyRan := func(n int32) func(*gearmantest.Server) bool {
		return func(s *gearmantest.Server) bool {
			f := s.Func("hourly")
			return runs.Load() == n && f.Running == 0 && f.Waiting == 1
		}
	}

	first := gearmantest.NewServerWith(t, &gearmantest.Config{StoreDir: dir})
	first.HandleFunc("hourly", count)
	if _, err := first.Pool(nil).Submit(ctx, gearman.Job{Func: "hourly", Background: true, Schedule: &gearman.Schedule{Minute: "0"}}); err != nil {
		t.Fatal(err)
	}
	first.FastForward(time.Hour)
	if err := first.WaitFor(ctx, hourlyRan(1)); err != nil {
		t.Fatalf("first server: %d runs, %+v: %v", runs.Load(), first.Func("hourly"), err)
	}
	first.Close()

	second := gearmantest.NewServerWith(t, &gearmantest.Config{StoreDir: dir})
	second.HandleFunc("hourly", count)
	if err := second.WaitFor(ctx, hourlyRan(1)); err != nil {
		t.Fatalf("after the restart: %d runs, %+v; want the job waiting for its time: %v", runs.Load(), second.Func("hourly"), err)
	}
	// Its next time is within two hours of now: the first server's clock
	// was an hour ahead.
	second.FastForward(2 * time.Hour)
	if err := second.WaitFor(ctx, hourlyRan(2)); err != nil {
		t.Fatalf("two hours after the restart: %d runs, %+v; want 2 and waiting: %v", runs.Load(), second.Func("hourly"), err)
	}
	second.FastForward(time.Hour)
	if err := second.WaitFor(ctx, hourlyRan(3)); err != nil {
		t.Fatalf("an hour later: %d runs, %+v; want 3: %v", runs.Load(), second.Func("hourly"), err)
	}
}
