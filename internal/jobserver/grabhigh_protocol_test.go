package jobserver_test

import (
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// OPTION_REQ grab-high: the connection's grabs take high-priority jobs
// only, and it sleeps through the others; a plain worker takes them.
func TestServerGrabHigh(t *testing.T) {
	addr := start(t, jobserver.Config{})
	hi := wiretest.Dial(t, addr)
	hi.Send(wire.OptionReq, wire.OptionGrabHigh)
	hi.Expect(wire.OptionRes, wire.OptionGrabHigh)
	hi.Send(wire.CanDo, "f")
	hi.Send(wire.GrabJobUniq)
	hi.Expect(wire.NoJob)
	hi.Send(wire.PreSleep)
	hi.Sync()

	cl := wiretest.Dial(t, addr)
	cl.Send(wire.SubmitJobLow, "f", "", "low")
	cl.ExpectType(wire.JobCreated)
	cl.Send(wire.SubmitJob, "f", "", "normal")
	cl.ExpectType(wire.JobCreated)
	hi.ExpectNone(100 * time.Millisecond) // not woken for them
	hi.Send(wire.GrabJobUniq)             // nor handed one
	hi.Expect(wire.NoJob)
	hi.Send(wire.PreSleep)
	hi.Sync()

	cl.Send(wire.SubmitJobHigh, "f", "", "high")
	cl.ExpectType(wire.JobCreated)
	hi.Expect(wire.Noop)
	hi.Send(wire.GrabJobUniq)
	if p := hi.ExpectType(wire.JobAssignUniq); string(p.Args[3]) != "high" {
		t.Fatalf("grab-high worker got %q", p.Args[3])
	}

	// The others wait for a plain worker, in priority order.
	lo := wiretest.Dial(t, addr)
	lo.Send(wire.CanDo, "f")
	for _, want := range []string{"normal", "low"} {
		lo.Send(wire.GrabJobUniq)
		if p := lo.ExpectType(wire.JobAssignUniq); string(p.Args[3]) != want {
			t.Fatalf("plain worker got %q; want %q", p.Args[3], want)
		}
	}
}

// A grab-high connection cannot get more than high jobs, nor have the
// server wake more of its kind than there are high jobs: the option sent
// twice, or after CAN_DO and PRE_SLEEP, still means high only; every grab
// type obeys it; with low jobs queued a high job wakes one grab-high
// sleeper, not every one; the low jobs go to a plain worker untouched.
func TestServerGrabHighHostile(t *testing.T) {
	addr := start(t, jobserver.Config{})
	late := wiretest.Dial(t, addr) // asleep first, the option after, twice
	late.Send(wire.CanDo, "f")
	late.Send(wire.PreSleep)
	for range 2 {
		late.Send(wire.OptionReq, wire.OptionGrabHigh)
		late.Expect(wire.OptionRes, wire.OptionGrabHigh)
	}
	var his []*wiretest.Peer
	for range 2 {
		hi := wiretest.Dial(t, addr)
		hi.Send(wire.OptionReq, wire.OptionGrabHigh)
		hi.Expect(wire.OptionRes, wire.OptionGrabHigh)
		hi.Send(wire.CanDo, "f")
		hi.Send(wire.PreSleep)
		hi.Sync()
		his = append(his, hi)
	}

	cl := wiretest.Dial(t, addr)
	for range 3 {
		cl.Send(wire.SubmitJobLow, "f", "", "low")
		cl.ExpectType(wire.JobCreated)
	}
	late.ExpectNone(100 * time.Millisecond)
	for _, grab := range []wire.Type{wire.GrabJob, wire.GrabJobUniq, wire.GrabJobAll} {
		late.Send(grab)
		late.Expect(wire.NoJob)
	}
	late.Send(wire.PreSleep)
	late.Sync()

	cl.Send(wire.SubmitJobHigh, "f", "", "high")
	cl.ExpectType(wire.JobCreated)
	his[0].Expect(wire.Noop) // the oldest grab-high sleeper, alone
	his[1].ExpectNone(100 * time.Millisecond)
	late.ExpectNone(100 * time.Millisecond)
	his[0].Send(wire.GrabJobUniq)
	if p := his[0].ExpectType(wire.JobAssignUniq); string(p.Args[3]) != "high" {
		t.Fatalf("grab-high worker got %q", p.Args[3])
	}

	lo := wiretest.Dial(t, addr)
	lo.Send(wire.CanDo, "f")
	for range 3 {
		lo.Send(wire.GrabJobUniq)
		if p := lo.ExpectType(wire.JobAssignUniq); string(p.Args[3]) != "low" {
			t.Fatalf("plain worker got %q", p.Args[3])
		}
	}
}

// A plain worker woken for a high job that it does not come to grab (its
// pool's slots for other jobs are full) does not keep the next high job
// from the grab-high sleeper: that one is woken for it, though as many
// workers are awake as jobs are queued. (The wake-up count was shared:
// the plain worker's NOOP held it, and the grab-high connection slept
// beside a high job it would have taken at once.)
func TestServerGrabHighWokenDespiteWokenPlainWorker(t *testing.T) {
	addr := start(t, jobserver.Config{})
	plain := wiretest.Dial(t, addr)
	plain.Send(wire.CanDo, "f")
	plain.Send(wire.PreSleep)
	plain.Sync()
	hi := wiretest.Dial(t, addr)
	hi.Send(wire.OptionReq, wire.OptionGrabHigh)
	hi.Expect(wire.OptionRes, wire.OptionGrabHigh)
	hi.Send(wire.CanDo, "f") // awake: not yet asleep for the first job

	cl := wiretest.Dial(t, addr)
	cl.Send(wire.SubmitJobHigh, "f", "", "high1")
	cl.ExpectType(wire.JobCreated)
	plain.Expect(wire.Noop) // the only sleeper; it never grabs
	hi.Send(wire.GrabJobUniq)
	if p := hi.ExpectType(wire.JobAssignUniq); string(p.Args[3]) != "high1" {
		t.Fatalf("grab-high worker got %q; want high1", p.Args[3])
	}
	hi.Send(wire.GrabJobUniq)
	hi.Expect(wire.NoJob)
	hi.Send(wire.PreSleep)
	hi.Sync()

	cl.Send(wire.SubmitJobHigh, "f", "", "high2")
	cl.ExpectType(wire.JobCreated)
	hi.Expect(wire.Noop)
	hi.Send(wire.GrabJobUniq)
	if p := hi.ExpectType(wire.JobAssignUniq); string(p.Args[3]) != "high2" {
		t.Fatalf("grab-high worker got %q; want high2", p.Args[3])
	}
}
