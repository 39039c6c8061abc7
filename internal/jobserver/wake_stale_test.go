package jobserver_test

import (
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// A worker that is sent NOOP and never grabs (a frozen process, a hostile
// or buggy peer that stays connected) does not keep the job from the
// worker asleep beside it: its wake-up stops counting after a bound, and
// the next sleeper is woken. The stale worker, grabbing late, gets
// NO_JOB: the job was done meanwhile.
func TestServerStaleWakeDoesNotStall(t *testing.T) {
	s, addr := startServer(t, jobserver.Config{})
	stale := wiretest.SleepingWorker(t, addr, "f") // asleep first: woken first
	live := wiretest.SleepingWorker(t, addr, "f")
	cl := wiretest.Dial(t, addr)
	cl.Send(wire.SubmitJob, "f", "", "x")
	h := cl.ExpectType(wire.JobCreated).Args[0]
	stale.Expect(wire.Noop) // and never grabs

	expectWoken(t, live, wiretest.Timeout)
	live.Send(wire.GrabJobUniq)
	live.Expect(wire.JobAssignUniq, h, "f", "", "x")
	live.Send(wire.WorkComplete, h, "done")
	cl.Expect(wire.WorkComplete, h, "done")
	checkWakes(t, s)

	stale.Send(wire.GrabJobUniq)
	stale.Expect(wire.NoJob)
	checkWakes(t, s)
}

// The same in virtual time, for each way a wake-up is made: a NOOP for a
// new job, for a high job to a grab-high sleeper (counted apart, see
// grabhigh.go), at PRE_SLEEP with work waiting, and for a stream job that
// only extension workers take (stream.go). Until the fake clock reaches
// the bound, the stale wake-up counts and the live worker sleeps on; at
// the bound it is woken. A late grab by the stale worker, or its
// connection closing, then leaves the counts right.
func TestServerStaleWakeExpires(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, addr string, cl *wiretest.Peer) (stale, live *wiretest.Peer)
		assign wire.Type
	}{
		{"noop", func(t *testing.T, addr string, cl *wiretest.Peer) (*wiretest.Peer, *wiretest.Peer) {
			stale := wiretest.SleepingWorker(t, addr, "f")
			live := wiretest.SleepingWorker(t, addr, "f")
			cl.Send(wire.SubmitJob, "f", "", "x")
			cl.ExpectType(wire.JobCreated)
			stale.Expect(wire.Noop)
			return stale, live
		}, wire.JobAssignUniq},
		{"grab-high", func(t *testing.T, addr string, cl *wiretest.Peer) (*wiretest.Peer, *wiretest.Peer) {
			stale := optionSleeper(t, addr, wire.OptionGrabHigh)
			live := optionSleeper(t, addr, wire.OptionGrabHigh)
			cl.Send(wire.SubmitJobHigh, "f", "", "x")
			cl.ExpectType(wire.JobCreated)
			stale.Expect(wire.Noop)
			return stale, live
		}, wire.JobAssignUniq},
		{"pre-sleep", func(t *testing.T, addr string, cl *wiretest.Peer) (*wiretest.Peer, *wiretest.Peer) {
			live := wiretest.SleepingWorker(t, addr, "g") // asleep, not yet on f
			cl.Send(wire.SubmitJob, "f", "", "x")
			cl.ExpectType(wire.JobCreated)
			stale := wiretest.Dial(t, addr)
			stale.Send(wire.CanDo, "f")
			stale.Send(wire.PreSleep)
			stale.Expect(wire.Noop) // work is waiting: woken at once
			live.Send(wire.CanDo, "f")
			live.Sync()
			return stale, live
		}, wire.JobAssignUniq},
		{"stream", func(t *testing.T, addr string, cl *wiretest.Peer) (*wiretest.Peer, *wiretest.Peer) {
			stale := optionSleeper(t, addr, wire.OptionStreaming, wire.OptionStreamChunks)
			live := optionSleeper(t, addr, wire.OptionStreaming, wire.OptionStreamChunks)
			cl.Send(wire.OptionReq, wire.OptionStreaming)
			cl.Expect(wire.OptionRes, wire.OptionStreaming)
			cl.Send(wire.OptionReq, wire.OptionStreamChunks)
			cl.Expect(wire.OptionRes, wire.OptionStreamChunks)
			cl.Send(wire.SubmitStream, "1", "7", "f", "x") // its payload not ended
			cl.ExpectType(wire.JobCreated)
			stale.Expect(wire.Noop)
			return stale, live
		}, wire.JobAssignStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			s, addr := startServer(t, jobserver.Config{Clock: clk})
			cl := wiretest.Dial(t, addr)
			stale, live := tc.setup(t, addr, cl)
			checkWakes(t, s)
			clk.Advance(jobserver.WakeBound - 1)
			live.ExpectNone(quiet) // the stale wake-up still counts
			clk.Advance(1)
			expectWoken(t, live, wiretest.Timeout)
			checkWakes(t, s)
			live.Send(wire.GrabJobUniq)
			live.ExpectType(tc.assign)
			checkWakes(t, s)
			stale.Send(wire.GrabJobUniq) // late: the job is taken
			stale.Expect(wire.NoJob)
			stale.Send(wire.PreSleep)
			stale.Sync()
			checkWakes(t, s)
			stale.Close()
			live.Close()
			// Not cl: the client of the stream job live held may get
			// WORK_FAIL first. The closes may not be handled yet; the
			// counts must be right either way.
			wiretest.Dial(t, addr).Sync()
			checkWakes(t, s)
		})
	}
}

// Several stale wake-ups at once: with four sleepers that do not grab and
// two jobs, a woken worker that goes away and each wake-up that expires
// wake the next sleeper, and the counts stay right throughout, until the
// late grabs.
func TestServerStaleWakesChain(t *testing.T) {
	clk := clock.NewFake(t0)
	s, addr := startServer(t, jobserver.Config{Clock: clk})
	var ws []*wiretest.Peer
	for range 4 {
		ws = append(ws, wiretest.SleepingWorker(t, addr, "f"))
	}
	cl := wiretest.Dial(t, addr)
	for range 2 {
		cl.Send(wire.SubmitJobBg, "f", "", "x")
		cl.ExpectType(wire.JobCreated)
	}
	ws[0].Expect(wire.Noop)
	ws[1].Expect(wire.Noop)
	ws[2].ExpectNone(quiet)
	checkWakes(t, s)
	ws[0].Close() // gone before its wake-up expires: ws[2] is woken now
	expectWoken(t, ws[2], wiretest.Timeout)
	checkWakes(t, s)
	clk.Advance(jobserver.WakeBound) // ws[1] and ws[2] expire: ws[3] woken
	expectWoken(t, ws[3], wiretest.Timeout)
	checkWakes(t, s)
	clk.Advance(jobserver.WakeBound) // ws[3] expires, no sleeper left
	cl.Sync()
	checkWakes(t, s)
	for _, w := range ws[1:3] { // late, and in time for the jobs
		w.Send(wire.GrabJobUniq)
		w.ExpectType(wire.JobAssignUniq)
	}
	ws[3].Send(wire.GrabJobUniq)
	ws[3].Expect(wire.NoJob)
	checkWakes(t, s)
}

// expectWoken fails the test unless w, asleep, is sent NOOP within d: the
// job it is waiting for is stalled otherwise.
func expectWoken(t *testing.T, w *wiretest.Peer, d time.Duration) {
	t.Helper()
	p, err := w.NextErr(d)
	if err != nil {
		t.Fatalf("the sleeping worker was not woken within %v (%v): the job waits behind a worker that was sent NOOP and never grabbed", d, err)
	}
	if p.Type != wire.Noop {
		t.Fatalf("the sleeping worker got %v; want NOOP", p)
	}
}

// checkWakes fails the test unless s's wake-up counts are consistent.
func checkWakes(t *testing.T, s *jobserver.Server) {
	t.Helper()
	if err := s.CheckWakes(); err != nil {
		t.Fatal(err)
	}
}

// optionSleeper connects a worker of f with the options given that goes
// to sleep.
func optionSleeper(t *testing.T, addr string, opts ...string) *wiretest.Peer {
	t.Helper()
	w := wiretest.Dial(t, addr)
	for _, o := range opts {
		w.Send(wire.OptionReq, o)
		w.Expect(wire.OptionRes, o)
	}
	w.Send(wire.CanDo, "f")
	w.Send(wire.PreSleep)
	w.Sync()
	return w
}
