package gearman_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// A handler that runs while its connection's read loop is parked (nobody
// reads: see Conn.serve) still learns that the server went away: its context
// is cancelled and the connection ends.
func TestScriptParkedHandlerLearnsConnLoss(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	started := make(chan struct{})
	ended := make(chan error, 1)
	c.Register("long", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "long", "", "payload")
	recv(t, started)
	p.Close()
	if err := recv(t, ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context ended with %v", err)
	}
	recv(t, c.Done())
	if err := c.Err(); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("connection ended with %v", err)
	}
}

// A handler that runs while its connection's read loop is parked submits a
// job on that connection and waits for its result: the submit has a reader
// start at once, without waiting for the check of long parks (set to an hour
// here, so that the test fails if the reader came only from it).
func TestScriptParkedHandlerUsesItsConn(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p := scriptConn(t, nil, true)
	c.Register("outer", gearman.BytesHandler(func(ctx context.Context, in []byte) ([]byte, error) {
		out, err := c.Do(ctx, gearman.Job{Func: "inner", Data: in})
		return append(out, " via outer"...), err
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	for i, h := range []string{"H:1", "H:2"} {
		p.Send(wire.JobAssignUniq, h, "outer", "", "job")
		sub := p.ExpectPacket(wire.SubmitJob)
		if got := string(sub.Arg(2)); got != "job" {
			t.Fatalf("inner payload %q", got)
		}
		inner := "H:inner" + string(rune('1'+i))
		p.Send(wire.JobCreated, inner)
		p.Send(wire.WorkComplete, inner, "done")
		done := p.ExpectPacket(wire.WorkComplete)
		if got, data := string(done.Arg(0)), string(done.Arg(1)); got != h || data != "done via outer" {
			t.Fatalf("job %s: WORK_COMPLETE %s %q", h, got, data)
		}
		p.ExpectPacket(wire.GrabJobUniq)
	}
	barrier(t, c, p)
}

// With MaxJobs=2, the second job's handler runs while the read loop is
// parked. When the first job ends, its grab has a reader start at once: the
// answer to the grab is read, not left until the check of long parks (set
// to an hour here, so that the test fails if the reader came only from it).
func TestScriptParkedGrab(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p := scriptConn(t, &gearman.Options{MaxJobs: 2}, true)
	g := newGate("H:1", "H:2")
	c.Register("g", g, nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "g", "", "one")
	recv(t, g.started)
	p.Send(wire.JobAssignUniq, "H:2", "g", "", "two") // parks: nothing pending
	recv(t, g.started)
	g.release["H:1"] <- nil
	p.ExpectPacket(wire.WorkData)
	p.ExpectPacket(wire.WorkComplete)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	g.release["H:2"] <- nil
	p.ExpectPacket(wire.WorkData)
	p.ExpectPacket(wire.WorkComplete)
	barrier(t, c, p) // asleep: no grab
}
