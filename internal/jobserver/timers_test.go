package jobserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// t0 is the fake clocks' start.
var t0 = time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)

func TestServerEpochJob(t *testing.T) {
	clk := clock.NewFake(t0)
	addr := start(t, jobserver.Config{Clock: clk})
	w := wiretest.SleepingWorker(t, addr, "f")
	w.Sync()
	c := wiretest.Dial(t, addr)
	due := t0.Add(time.Minute).Unix()
	c.Send(wire.SubmitJobEpoch, "f", "e1", fmt.Sprint(due), "later")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobEpoch, "f", "", "abc", "now") // rubbish time = now, as gearmand
	c.Expect(wire.JobCreated, "H:test:2")
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:2", "f", "", "now")
	w.Send(wire.WorkComplete, "H:test:2", "")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob) // the epoch job is not due
	w.Send(wire.PreSleep)
	w.Sync()
	a := wiretest.Dial(t, addr)
	if got := a.Admin("prioritystatus", true); got != "f\t0\t1\t0\t1\n.\n" {
		t.Errorf("prioritystatus = %q", got)
	}
	clk.Advance(59 * time.Second)
	w.ExpectNone(quiet)
	clk.Advance(time.Second)
	w.Expect(wire.Noop) // woken at its time
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "f", "e1", "later")
}

func TestServerScheduledJob(t *testing.T) {
	clk := clock.NewFake(t0) // 2030-01-01 00:00:30 UTC, a Tuesday
	addr := start(t, jobserver.Config{Clock: clk})
	w := wiretest.SleepingWorker(t, addr, "cron")
	w.Sync()
	c := wiretest.Dial(t, addr)
	// Minute 5 of every hour.
	c.Send(wire.SubmitJobSched, "cron", "tick", "5", "", "", "", "", "payload")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobSched, "cron", "tick", "5", "", "", "", "", "payload")
	c.Expect(wire.JobCreated, "H:test:1") // the same schedule
	c.Send(wire.SubmitJobSched, "cron", "bad", "61", "", "", "", "", "")
	c.ExpectType(wire.Error)
	c.Send(wire.SubmitJobSched, "cron", "never", "", "", "30", "2", "", "") // February 30
	c.ExpectType(wire.Error)
	wait := 4*time.Minute + 29*time.Second // to 00:04:59
	for range 3 {
		clk.Advance(wait)
		w.ExpectNone(quiet)
		clk.Advance(time.Second) // hh:05:00
		w.Expect(wire.Noop)
		w.Send(wire.GrabJobUniq)
		w.Expect(wire.JobAssignUniq, "H:test:1", "cron", "tick", "payload")
		w.Send(wire.WorkComplete, "H:test:1", "")
		w.Send(wire.PreSleep)
		w.Sync()
		wait = time.Hour - time.Second // to the next hh:04:59
	}
	a := wiretest.Dial(t, addr)
	if got := a.Admin("status", true); got != "cron\t1\t0\t1\n.\n" {
		t.Errorf("status = %q", got)
	}
	if got := a.Admin("cancel job H:test:1", false); got != "OK\r\n" {
		t.Errorf("cancel = %q", got)
	}
	if got := a.Admin("status", true); got != "cron\t0\t0\t1\n.\n" {
		t.Errorf("status after cancel = %q", got)
	}
}

func TestServerCanDoTimeout(t *testing.T) {
	clk := clock.NewFake(t0)
	addr := start(t, jobserver.Config{Clock: clk})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "slow", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDoTimeout, "slow", "500") // raised to 1000 ms
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:1", "slow", "x")
	clk.Advance(999 * time.Millisecond)
	c.ExpectNone(quiet)
	clk.Advance(time.Millisecond)
	c.Expect(wire.WorkFail, "H:test:1")
	w.Send(wire.WorkComplete, "H:test:1", "late")
	w.Expect(wire.Error, "JOB_NOT_FOUND", "Job given in work result not found")
	// A job that finishes in time is not failed later.
	c.Send(wire.SubmitJob, "slow", "", "y")
	c.Expect(wire.JobCreated, "H:test:2")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "slow", "y")
	w.Send(wire.WorkComplete, "H:test:2", "ok")
	c.Expect(wire.WorkComplete, "H:test:2", "ok")
	clk.Advance(time.Hour)
	c.ExpectNone(quiet)
}
