package jobserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestServerForegroundJob(t *testing.T) {
	addr := start(t, jobserver.Config{})
	w := wiretest.SleepingWorker(t, addr, "rev")
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "rev", "u7", "abc")
	c.Expect(wire.JobCreated, "H:test:1")
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "rev", "u7", "abc")
	w.Send(wire.WorkStatus, "H:test:1", "1", "2")
	c.Expect(wire.WorkStatus, "H:test:1", "1", "2")
	w.Send(wire.WorkData, "H:test:1", "c")
	c.Expect(wire.WorkData, "H:test:1", "c")
	w.Send(wire.WorkWarning, "H:test:1", "careful")
	c.Expect(wire.WorkWarning, "H:test:1", "careful")
	w.Send(wire.WorkComplete, "H:test:1", "ba")
	c.Expect(wire.WorkComplete, "H:test:1", "ba")
	w.Send(wire.WorkComplete, "H:test:1", "again")
	w.Expect(wire.Error, "JOB_NOT_FOUND", "Job given in work result not found")
	w.Send(wire.WorkData, "H:test:1", "x")
	w.Expect(wire.Error, "JOB_NOT_FOUND", "Job does not exist on server")
	w.Send(wire.WorkException, "H:test:1", "x")
	w.Expect(wire.Error, "JOB_NOT_FOUND", "An exception was received for a job that does not exist")
	c.Send(wire.GetStatus, "H:test:1")
	c.Expect(wire.StatusRes, "H:test:1", "0", "0", "0", "0")
	// GRAB_JOB and GRAB_JOB_ALL answer with their own assign types.
	c.Send(wire.SubmitJobBg, "rev", "", "x")
	c.Expect(wire.JobCreated, "H:test:2")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "rev", "x")
	w.Send(wire.WorkFail, "H:test:2")
	w.Send(wire.GrabJobAll)
	w.Expect(wire.NoJob)
}

func TestServerPriorityOrder(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	subs := []struct {
		t    wire.Type
		name string
	}{
		{wire.SubmitJobLowBg, "low1"}, {wire.SubmitJobBg, "norm1"}, {wire.SubmitJobHighBg, "high1"},
		{wire.SubmitJobHighBg, "high2"}, {wire.SubmitJobLowBg, "low2"}, {wire.SubmitJobBg, "norm2"},
	}
	for _, s := range subs {
		c.Send(s.t, "f", "", s.name)
		c.ExpectType(wire.JobCreated)
	}
	// A HIGH job of another function beats them all but the HIGH ones
	// before it (priority across functions, FIFO within one).
	c.Send(wire.SubmitJobHighBg, "g", "", "ghigh")
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobLowBg, "g", "", "glow")
	c.ExpectType(wire.JobCreated)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.CanDo, "g")
	var got []string
	for range 8 {
		w.Send(wire.GrabJob)
		p := w.ExpectType(wire.JobAssign)
		got = append(got, p.Args[2])
		w.Send(wire.WorkComplete, p.Args[0], "")
	}
	// Round robin between f and g at each level: after norm2 (f), g's turn.
	want := "high1 ghigh high2 norm1 norm2 glow low1 low2"
	if strings.Join(got, " ") != want {
		t.Errorf("order %q; want %q", strings.Join(got, " "), want)
	}
}

func TestServerPipelinedRepliesInOrder(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	var raw []byte
	for i := range 50 {
		u := fmt.Sprint("u", i)
		if i == 20 {
			u = strings.Repeat("x", 65)
		}
		raw, _ = wire.AppendPacket(raw, wire.Req, wire.SubmitJobBg, []byte("f"), []byte(u), []byte("d"))
		if i == 30 {
			raw, _ = wire.AppendPacket(raw, wire.Req, wire.EchoReq, []byte("mid"))
		}
	}
	c.SendRaw(raw)
	n := 1
	for i := range 50 {
		if i == 20 {
			c.Expect(wire.Error, "ARGUMENT_TOO_LARGE", "Unique value too large")
			continue
		}
		c.Expect(wire.JobCreated, fmt.Sprint("H:test:", n))
		n++
		if i == 30 {
			c.Expect(wire.EchoRes, "mid")
		}
	}
	// 64 bytes is accepted and coalesces at full length.
	u64 := strings.Repeat("y", 64)
	c.Send(wire.SubmitJobBg, "f", u64, "a")
	h := c.ExpectType(wire.JobCreated).Args[0]
	c.Send(wire.SubmitJobBg, "f", u64, "b")
	c.Expect(wire.JobCreated, h)
}

func TestServerUniqueCoalescing(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c1, c2, c3 := wiretest.Dial(t, addr), wiretest.Dial(t, addr), wiretest.Dial(t, addr)
	c1.Send(wire.SubmitJob, "f", "same", "first")
	c1.Expect(wire.JobCreated, "H:test:1")
	c2.Send(wire.SubmitJob, "f", "same", "second")
	c2.Expect(wire.JobCreated, "H:test:1")
	// Background with the same unique: not queued twice.
	c3.Send(wire.SubmitJobBg, "f", "same", "third")
	c3.Expect(wire.JobCreated, "H:test:1")
	// Another function, or an empty unique: a new job.
	c3.Send(wire.SubmitJobBg, "g", "same", "x")
	c3.Expect(wire.JobCreated, "H:test:2")
	c3.Send(wire.SubmitJobBg, "g", "", "x")
	c3.Expect(wire.JobCreated, "H:test:3")
	c3.Send(wire.SubmitJobBg, "g", "", "x")
	c3.Expect(wire.JobCreated, "H:test:4")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "f", "same", "first")
	w.Send(wire.WorkData, "H:test:1", "d1")
	c1.Expect(wire.WorkData, "H:test:1", "d1")
	c2.Expect(wire.WorkData, "H:test:1", "d1")
	// A client attaching to the running job sees what comes after.
	c4 := wiretest.Dial(t, addr)
	c4.Send(wire.SubmitJob, "f", "same", "late")
	c4.Expect(wire.JobCreated, "H:test:1")
	c4.Send(wire.GetStatusUnique, "same")
	c4.Expect(wire.StatusResUnique, "same", "1", "1", "0", "0", "3")
	w.Send(wire.WorkComplete, "H:test:1", "done")
	for _, c := range []*wiretest.Peer{c1, c2, c4} {
		c.Expect(wire.WorkComplete, "H:test:1", "done")
	}
	c3.ExpectNone(quiet)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	// Like gearmand, the lookup ignores the function: g's job is found.
	c4.Send(wire.GetStatusUnique, "same")
	c4.Expect(wire.StatusResUnique, "same", "1", "0", "0", "0", "0")
	c4.Send(wire.GetStatusUnique, "nothing")
	c4.Expect(wire.StatusResUnique, "nothing", "0", "0", "0", "0", "0")
}

func TestServerStatusQueries(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "uu", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.GetStatus, "H:test:1")
	c.Expect(wire.StatusRes, "H:test:1", "1", "0", "0", "0")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.ExpectType(wire.JobAssign)
	w.Send(wire.WorkStatus, "H:test:1", "3", "10")
	w.Sync()
	c.Send(wire.GetStatus, "H:test:1")
	c.Expect(wire.StatusRes, "H:test:1", "1", "1", "3", "10")
	c.Send(wire.GetStatusUnique, "uu")
	c.Expect(wire.StatusResUnique, "uu", "1", "1", "3", "10", "0")
	c.Send(wire.GetStatus, "H:test:99")
	c.Expect(wire.StatusRes, "H:test:99", "0", "0", "0", "0")
	c.Send(wire.GetStatus, "H:test:01")
	c.Expect(wire.StatusRes, "H:test:01", "0", "0", "0", "0")
	c.Send(wire.EchoReq, "a\x00b")
	c.Expect(wire.EchoRes, "a\x00b")
	c.Send(wire.OptionReq, "EXCEPTIONS")
	c.Expect(wire.OptionRes, "EXCEPTIONS")
	c.Send(wire.OptionReq, "Streaming")
	c.Expect(wire.OptionRes, "Streaming")
	c.Send(wire.OptionReq, "no-such-option")
	c.Expect(wire.Error, "UNKNOWN_OPTION", "Server does not recognize given option")
}

func TestServerExceptions(t *testing.T) {
	addr := start(t, jobserver.Config{})
	plain, opted := wiretest.Dial(t, addr), wiretest.Dial(t, addr)
	opted.Send(wire.OptionReq, "exceptions")
	opted.Expect(wire.OptionRes, "exceptions")
	plain.Send(wire.SubmitJob, "f", "u", "x")
	plain.Expect(wire.JobCreated, "H:test:1")
	opted.Send(wire.SubmitJob, "f", "u", "x")
	opted.Expect(wire.JobCreated, "H:test:1")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.ExpectType(wire.JobAssign)
	w.Send(wire.WorkException, "H:test:1", "boom")
	opted.Expect(wire.WorkException, "H:test:1", "boom")
	plain.Expect(wire.WorkFail, "H:test:1")
	// Server-wide exceptions.
	addr2 := start(t, jobserver.Config{Exceptions: true})
	c := wiretest.Dial(t, addr2)
	c.Send(wire.SubmitJob, "f", "", "x")
	h := c.ExpectType(wire.JobCreated).Args[0]
	w2 := wiretest.Dial(t, addr2)
	w2.Send(wire.CanDo, "f")
	w2.Send(wire.GrabJob)
	w2.ExpectType(wire.JobAssign)
	w2.Send(wire.WorkException, h, "boom")
	c.Expect(wire.WorkException, h, "boom")
}

func TestServerRetriesThenFail(t *testing.T) {
	addr := start(t, jobserver.Config{JobRetries: 2})
	w1 := wiretest.SleepingWorker(t, addr, "f")
	w1.Sync()
	w2 := wiretest.SleepingWorker(t, addr, "f")
	w2.Sync()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "f", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	w1.Expect(wire.Noop)
	w1.Send(wire.GrabJob)
	w1.Expect(wire.JobAssign, "H:test:1", "f", "x")
	w1.C.Close() // attempt 1 lost: requeued, a sleeper is woken
	w2.Expect(wire.Noop)
	w2.Send(wire.GrabJob)
	w2.Expect(wire.JobAssign, "H:test:1", "f", "x")
	a := wiretest.Dial(t, addr)
	if got := a.Admin("show jobs", true); got != "H:test:1\t1\t0\t0\n.\n" {
		t.Errorf("show jobs = %q", got)
	}
	w2.C.Close() // attempt 2 lost: JobRetries reached
	c.Expect(wire.WorkFail, "H:test:1")
	if got := a.Admin("status", true); got != "f\t0\t0\t0\n.\n" {
		t.Errorf("status = %q", got)
	}
}

func TestServerCantDoAndResetRequeue(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "f", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.CanDo, "g")
	w.Send(wire.GrabJob)
	w.ExpectType(wire.JobAssign)
	w.Send(wire.CantDo, "f")
	w.Send(wire.WorkComplete, "H:test:1", "late")
	w.Expect(wire.Error, "JOB_NOT_FOUND", "Job given in work result not found")
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:1", "f", "x")
	w.Send(wire.ResetAbilities)
	w.Send(wire.GrabJob)
	w.Expect(wire.NoJob)
	a := wiretest.Dial(t, addr)
	if got := a.Admin("show jobs", true); got != "H:test:1\t2\t0\t0\n.\n" {
		t.Errorf("show jobs = %q", got)
	}
	c.ExpectNone(quiet)
}

func TestServerClientDisconnect(t *testing.T) {
	addr := start(t, jobserver.Config{})
	a := wiretest.Dial(t, addr)
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "f", "", "dropped")
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJob, "f", "shared", "kept-bg")
	c.ExpectType(wire.JobCreated)
	c2 := wiretest.Dial(t, addr)
	c2.Send(wire.SubmitJobBg, "f", "shared", "")
	c2.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJob, "f", "other", "kept-other-client")
	c.ExpectType(wire.JobCreated)
	c2.Send(wire.SubmitJob, "f", "other", "")
	c2.ExpectType(wire.JobCreated)
	c.C.Close()
	time.Sleep(50 * time.Millisecond)
	if got := a.Admin("status", true); got != "f\t2\t0\t0\n.\n" {
		t.Errorf("status after the client left = %q", got)
	}
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "f", "kept-bg")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:3", "f", "kept-other-client")
	// A running job whose only client leaves keeps running; its result is
	// accepted and goes nowhere.
	c2.C.Close()
	time.Sleep(50 * time.Millisecond)
	w.Send(wire.WorkComplete, "H:test:3", "r")
	w.Send(wire.WorkComplete, "H:test:2", "r")
	w.Sync()
	if got := a.Admin("status", true); got != "f\t0\t0\t1\n.\n" {
		t.Errorf("final status = %q", got)
	}
}

func TestServerNoopRules(t *testing.T) {
	addr := start(t, jobserver.Config{})
	w1 := wiretest.SleepingWorker(t, addr, "f")
	w2 := wiretest.SleepingWorker(t, addr, "f")
	w3 := wiretest.SleepingWorker(t, addr, "other")
	w1.Sync()
	w2.Sync()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "1")
	c.ExpectType(wire.JobCreated)
	// One job wakes one worker: the one that slept first.
	w1.Expect(wire.Noop)
	w2.ExpectNone(quiet)
	w3.ExpectNone(0)
	// A second job wakes the other; w1 gets no second NOOP before it grabs.
	c.Send(wire.SubmitJobBg, "f", "", "2")
	c.ExpectType(wire.JobCreated)
	w2.Expect(wire.Noop)
	c.Send(wire.SubmitJobBg, "f", "", "3")
	c.ExpectType(wire.JobCreated)
	w1.ExpectNone(quiet)
	w2.ExpectNone(0)
	// PRE_SLEEP with work waiting: NOOP at once.
	w1.Send(wire.GrabJob)
	w1.ExpectType(wire.JobAssign)
	w1.Send(wire.PreSleep)
	w1.Expect(wire.Noop)
	w3.ExpectNone(0)
}

func TestServerAllYours(t *testing.T) {
	addr := start(t, jobserver.Config{})
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.AllYours)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	w.Send(wire.PreSleep)
	w.Sync()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "u", "x")
	c.ExpectType(wire.JobCreated)
	w.Expect(wire.JobAssignUniq, "H:test:1", "f", "u", "x")
}

func TestServerReduceAndGrabAll(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitReduceJob, "map", "u1", "red", "", "data")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitReduceJobBackground, "map", "u2", "red2", "", "bgdata")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJob, "map", "", "plain")
	c.Expect(wire.JobCreated, "H:test:3")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "map")
	w.Send(wire.GrabJobAll)
	w.Expect(wire.JobAssignAll, "H:test:1", "map", "u1", "red", "data")
	w.Send(wire.GrabJobAll)
	w.Expect(wire.JobAssignAll, "H:test:2", "map", "u2", "red2", "bgdata")
	w.Send(wire.GrabJobAll)
	w.Expect(wire.JobAssignUniq, "H:test:3", "map", "", "plain")
	w.Send(wire.WorkComplete, "H:test:1", "reduced")
	c.Expect(wire.WorkComplete, "H:test:1", "reduced")
}

func TestServerSetClientIDShownInWorkers(t *testing.T) {
	addr := start(t, jobserver.Config{})
	w := wiretest.Dial(t, addr)
	w.Send(wire.SetClientID, "worker A")
	w.Send(wire.CanDo, "f")
	w.Send(wire.CanDo, "g")
	w.Send(wire.CanDo, "f")
	w.Sync()
	a := wiretest.Dial(t, addr)
	got := a.Admin("workers", true)
	lines := strings.Split(got, "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], " 127.0.0.1 worker A : f g f") ||
		!strings.HasSuffix(lines[1], " 127.0.0.1 - :") || lines[2] != "." {
		t.Errorf("workers = %q", got)
	}
	if got := a.Admin("status", true); got != "f\t0\t0\t2\ng\t0\t0\t1\n.\n" {
		t.Errorf("status = %q", got)
	}
}

// Large payloads submitted back to back on one connection each reach their
// worker whole and unchanged: the server keeps each one's memory (or a
// copy), never a buffer the next packet overwrites.
func TestServerLargePayloadsKept(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	payloads := make([]string, 4)
	for i := range payloads {
		payloads[i] = strings.Repeat(string(rune('a'+i)), 300<<10+i)
		c.Send(wire.SubmitJobBg, "big", fmt.Sprint("u", i), payloads[i])
		c.Expect(wire.JobCreated, fmt.Sprintf("H:test:%d", i+1))
	}
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "big")
	for i, want := range payloads {
		w.Send(wire.GrabJobUniq)
		got := w.ExpectType(wire.JobAssignUniq)
		if data := got.Args[3]; string(data) != want {
			t.Fatalf("job %d: payload of %d bytes starting %q; want %d bytes of %q", i, len(data), data[:min(len(data), 8)], len(want), want[:1])
		}
	}
}

// A result goes to every client of a job at once, each reached from the
// worker's request alone: nobody else sends anything after the worker's
// WORK_COMPLETE, so each client's copy must be written by the server then.
func TestServerResultToEveryClient(t *testing.T) {
	addr := start(t, jobserver.Config{})
	w1 := wiretest.SleepingWorker(t, addr, "f")
	w2 := wiretest.SleepingWorker(t, addr, "f")
	c1, c2 := wiretest.Dial(t, addr), wiretest.Dial(t, addr)
	c1.Send(wire.SubmitJob, "f", "u", "x")
	c1.Expect(wire.JobCreated, "H:test:1")
	c2.Send(wire.SubmitJob, "f", "u", "x") // the same unique: the same job
	c2.Expect(wire.JobCreated, "H:test:1")
	w1.Expect(wire.Noop)
	w2.ExpectNone(quiet)
	w1.Send(wire.GrabJobUniq)
	w1.ExpectType(wire.JobAssignUniq)
	w1.Send(wire.WorkData, "H:test:1", "partial")
	w1.Send(wire.WorkComplete, "H:test:1", "r")
	for _, c := range []*wiretest.Peer{c1, c2} {
		c.Expect(wire.WorkData, "H:test:1", "partial")
		c.Expect(wire.WorkComplete, "H:test:1", "r")
	}
}

// GET_STATUS_UNIQUE finds a job by its unique id under any function (one
// lookup in the server's unique index, where it used to look under every
// function): of several, the oldest answers; a job that finished is no
// longer found, and the next oldest answers. Submits still coalesce per
// function while several functions hold the id.
func TestServerStatusUniqueAcrossFunctions(t *testing.T) {
	addr := start(t, jobserver.Config{})
	c := wiretest.Dial(t, addr)
	for i, fn := range []string{"a", "b", "c"} {
		c.Send(wire.SubmitJobBg, fn, "u", "x")
		c.Expect(wire.JobCreated, "H:test:"+strconv.Itoa(i+1))
	}
	// b's job runs, with a status that tells it apart.
	wb := uniqWorker(t, addr, "b")
	wb.Send(wire.GrabJob)
	wb.Expect(wire.JobAssign, "H:test:2", "b", "x")
	wb.Send(wire.WorkStatus, "H:test:2", "3", "10")
	wb.Sync()
	c.Send(wire.GetStatusUnique, "u")
	c.Expect(wire.StatusResUnique, "u", "1", "0", "0", "0", "0") // a's, the oldest
	// Coalescing under each function: b's running job, not a new one.
	c.Send(wire.SubmitJobBg, "b", "u", "y")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJobBg, "c", "u", "y")
	c.Expect(wire.JobCreated, "H:test:3")

	wa := uniqWorker(t, addr, "a")
	wa.Send(wire.GrabJob)
	wa.Expect(wire.JobAssign, "H:test:1", "a", "x")
	wa.Send(wire.WorkComplete, "H:test:1", "")
	wa.Sync()
	c.Send(wire.GetStatusUnique, "u")
	c.Expect(wire.StatusResUnique, "u", "1", "1", "3", "10", "0") // b's now
	wb.Send(wire.WorkComplete, "H:test:2", "")
	wb.Sync()
	c.Send(wire.GetStatusUnique, "u")
	c.Expect(wire.StatusResUnique, "u", "1", "0", "0", "0", "0") // c's
	// a's id is free again: a new job, found after c's.
	c.Send(wire.SubmitJobBg, "a", "u", "z")
	c.Expect(wire.JobCreated, "H:test:4")

	wc := uniqWorker(t, addr, "c")
	wc.Send(wire.GrabJob)
	wc.Expect(wire.JobAssign, "H:test:3", "c", "x")
	wc.Send(wire.WorkStatus, "H:test:3", "1", "2")
	wc.Sync()
	c.Send(wire.GetStatusUnique, "u")
	c.Expect(wire.StatusResUnique, "u", "1", "1", "1", "2", "0")
	wc.Send(wire.WorkComplete, "H:test:3", "")
	wc.Sync()
	wa.Send(wire.GrabJob)
	wa.Expect(wire.JobAssign, "H:test:4", "a", "z")
	wa.Send(wire.WorkComplete, "H:test:4", "")
	wa.Sync()
	c.Send(wire.GetStatusUnique, "u")
	c.Expect(wire.StatusResUnique, "u", "0", "0", "0", "0", "0")
}

// uniqWorker connects a worker of fn that does not grab yet.
func uniqWorker(t *testing.T, addr, fn string) *wiretest.Peer {
	t.Helper()
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, fn)
	return w
}
