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
	waitHandled(hi)

	cl := wiretest.Dial(t, addr)
	cl.Send(wire.SubmitJobLow, "f", "", "low")
	cl.ExpectType(wire.JobCreated)
	cl.Send(wire.SubmitJob, "f", "", "normal")
	cl.ExpectType(wire.JobCreated)
	hi.ExpectNone(100 * time.Millisecond) // not woken for them
	hi.Send(wire.GrabJobUniq)             // nor handed one
	hi.Expect(wire.NoJob)
	hi.Send(wire.PreSleep)
	waitHandled(hi)

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
