package gearman_test

import (
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// TestScheduledJobRetryWaitsAcrossARestart: with the embedded store, a
// scheduled job whose run failed still waits for its retry, not for its
// next scheduled run, after a restart, with its failures counted; a run
// that ends well gives the next run its retries anew, across a restart
// too.
func TestScheduledJobRetryWaitsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	// Each retry waits between 5 and 10 minutes (the jitter).
	policy := gearman.RetryPolicy{Retries: 1, Backoff: 10 * time.Minute, MaxBackoff: 10 * time.Minute, Keep: true}
	start := func(at time.Time) (*gearman.Server, *clock.Fake, string, *wiretest.Peer) {
		t.Helper()
		s := &gearman.Server{HandlePrefix: "H:test", RetryFailed: policy}
		clk := srvFakeClock(s, at)
		s, addr := storeServer(t, dir, s)
		return s, clk, addr, wiretest.SleepingWorker(t, addr, "cron")
	}
	s, clk, addr, w := start(srvT0) // 00:00:30
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobSched, "cron", "tick", "5", "", "", "", "", "payload") // minute 5 of every hour
	c.Expect(wire.JobCreated, "H:test:1")
	clk.Advance(4*time.Minute + 30*time.Second)                  // 00:05:00
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "boom") // its retry: 00:10 to 00:15
	s.Close()

	s, clk, addr, w = start(time.Date(2030, 1, 1, 0, 6, 0, 0, time.UTC))
	clk.Advance(4*time.Minute - time.Second) // 00:09:59: before the retry's earliest time
	w.ExpectNone(quiet)
	clk.Advance(5*time.Minute + time.Second) // 00:15:00: its latest; the next run would be 01:05
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "again")
	a := wiretest.Dial(t, addr)
	if got := a.Admin("show dead", true); got != "H:test:2\tcron\ttick\t2\t2030-01-01T00:05:00Z\t2030-01-01T00:15:00Z\tagain\n.\n" {
		t.Errorf("show dead = %q; want the run's two failures, the first from before the restart", got)
	}
	clk.Advance(50 * time.Minute)                            // 01:05:00: the next run
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "") // retried: its retries are anew
	clk.Advance(10 * time.Minute)
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "cron", "tick", "payload")
	w.Send(wire.WorkComplete, "H:test:1", "") // the retry ends well
	w.Sync()
	s.Close()

	_, clk, addr, w = start(time.Date(2030, 1, 1, 1, 20, 0, 0, time.UTC))
	w.ExpectNone(quiet) // no retry left to run: it waits for 02:05
	clk.Advance(45 * time.Minute)
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "")
	clk.Advance(10 * time.Minute)
	w.Expect(wire.Noop) // retried, not a dead letter at its first failure
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "cron", "tick", "payload")
	w.Send(wire.WorkComplete, "H:test:1", "")
	w.Sync()
	a = wiretest.Dial(t, addr)
	if got := a.Admin("show dead", true); got != "H:test:2\tcron\ttick\t2\t2030-01-01T00:05:00Z\t2030-01-01T00:15:00Z\tagain\n.\n" {
		t.Errorf("show dead at the end = %q; want only the first run's", got)
	}
	if got := a.Admin("status", true); got != "cron\t1\t0\t1\n.\n" {
		t.Errorf("status at the end = %q; want the schedule waiting", got)
	}
}
