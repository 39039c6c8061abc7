package gearman_test

import (
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// OPTION_REQ job-assigned: the client is told, by WORK_STATUS 0 0, when
// its job is assigned, before the worker's own packets; a client that
// joins the running job (same unique id) is told at once, with the
// progress so far; a client without the option hears nothing of it.
func TestServerJobAssigned(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	cl := wiretest.Dial(t, addr)
	cl.Send(wire.OptionReq, wire.OptionAssigned)
	cl.Expect(wire.OptionRes, wire.OptionAssigned)
	plain := wiretest.Dial(t, addr)

	cl.Send(wire.SubmitJob, "f", "u", "x")
	h := string(cl.ExpectType(wire.JobCreated).Args[0])
	plain.Send(wire.SubmitJob, "f", "u", "x") // joins it, queued
	plain.Expect(wire.JobCreated, h)
	cl.ExpectNone(50 * time.Millisecond) // queued: nothing yet

	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, h, "f", "u", "x")
	cl.Expect(wire.WorkStatus, h, "0", "0")
	w.Send(wire.WorkStatus, h, "3", "7")
	cl.Expect(wire.WorkStatus, h, "3", "7")
	plain.Expect(wire.WorkStatus, h, "3", "7") // its first packet of the job

	late := wiretest.Dial(t, addr)
	late.Send(wire.OptionReq, wire.OptionAssigned)
	late.Expect(wire.OptionRes, wire.OptionAssigned)
	late.Send(wire.SubmitJob, "f", "u", "x") // joins it, running
	late.Expect(wire.JobCreated, h)
	late.Expect(wire.WorkStatus, h, "3", "7")

	w.Send(wire.WorkComplete, h, "done")
	for _, p := range []*wiretest.Peer{cl, plain, late} {
		p.Expect(wire.WorkComplete, h, "done")
		p.ExpectNone(50 * time.Millisecond)
	}
	w.ExpectNone(50 * time.Millisecond)
}

// A job that runs again after its worker died is announced again, 0 0:
// a new run with no progress.
func TestServerJobAssignedRetry(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	cl := wiretest.Dial(t, addr)
	cl.Send(wire.OptionReq, wire.OptionAssigned)
	cl.Expect(wire.OptionRes, wire.OptionAssigned)
	cl.Send(wire.SubmitJob, "f", "", "x")
	h := string(cl.ExpectType(wire.JobCreated).Args[0])
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJobUniq)
	w.ExpectType(wire.JobAssignUniq)
	cl.Expect(wire.WorkStatus, h, "0", "0")
	w.Send(wire.WorkStatus, h, "1", "2")
	cl.Expect(wire.WorkStatus, h, "1", "2")
	w.Close()

	w2 := wiretest.Dial(t, addr)
	w2.Send(wire.CanDo, "f")
	w2.Send(wire.PreSleep)
	w2.Expect(wire.Noop) // once the server has seen the first worker go
	w2.Send(wire.GrabJobUniq)
	w2.ExpectType(wire.JobAssignUniq)
	cl.Expect(wire.WorkStatus, h, "0", "0")
	w2.Send(wire.WorkComplete, h, "ok")
	cl.Expect(wire.WorkComplete, h, "ok")
}

// The option sent twice, in another case, or by a worker's connection does
// nothing harmful: one notice per assignment, none to a worker, nothing
// for background jobs, and the worker's jobs run as before.
func TestServerJobAssignedHostile(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	cl := wiretest.Dial(t, addr)
	for _, name := range []string{wire.OptionAssigned, "JOB-ASSIGNED"} {
		cl.Send(wire.OptionReq, name)
		cl.Expect(wire.OptionRes, name)
	}
	w := wiretest.Dial(t, addr)
	w.Send(wire.OptionReq, wire.OptionAssigned)
	w.Expect(wire.OptionRes, wire.OptionAssigned)
	w.Send(wire.CanDo, "f")
	w.Send(wire.OptionReq, wire.OptionAssigned) // again, as a worker
	w.Expect(wire.OptionRes, wire.OptionAssigned)

	cl.Send(wire.SubmitJobBg, "f", "", "bg")
	hb := string(cl.ExpectType(wire.JobCreated).Args[0])
	cl.Send(wire.SubmitJob, "f", "", "fg")
	hf := string(cl.ExpectType(wire.JobCreated).Args[0])
	for _, h := range []string{hb, hf} {
		w.Send(wire.GrabJobUniq)
		w.ExpectType(wire.JobAssignUniq)
		w.Send(wire.WorkComplete, h, "")
	}
	cl.Expect(wire.WorkStatus, hf, "0", "0") // once, for the foreground job
	cl.Expect(wire.WorkComplete, hf, "")
	cl.ExpectNone(50 * time.Millisecond)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob) // nothing stray before it
	w.Sync()
	cl.Sync()
}
