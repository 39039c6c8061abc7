package gearman_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// clusterOpts are short leases and polls, so that the tests run quickly.
var clusterOpts = gearman.StoreOptions{Lease: 2 * time.Second, Poll: 200 * time.Millisecond}

// clusterServer starts a server of the cluster on the database at url,
// with handle prefix H:name.
func clusterServer(t *testing.T, url, name string) (*gearman.Server, string) {
	t.Helper()
	st, err := gearman.OpenStore(t.Context(), url, &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	s := &gearman.Server{HandlePrefix: "H:" + name, Store: st}
	return s, srvStart(t, s)
}

// threeServers starts three servers of a cluster on the database at url,
// each with a sleeping worker of function fn.
func threeServers(t *testing.T, url, fn string) (addrs []string, workers []*wiretest.Peer) {
	t.Helper()
	for _, name := range []string{"a", "b", "c"} {
		_, addr := clusterServer(t, url, name)
		addrs = append(addrs, addr)
		workers = append(workers, wiretest.SleepingWorker(t, addr, fn))
	}
	return addrs, workers
}

// runFor lets sleeping workers run every job they are woken for, for d,
// calling ran at each job; it returns how many ran.
func runFor(t *testing.T, workers []*wiretest.Peer, d time.Duration, ran func()) int {
	t.Helper()
	runs := 0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		for _, w := range workers {
			p, err := w.NextErr(20 * time.Millisecond)
			if err != nil {
				continue
			}
			if p.Type != wire.Noop {
				t.Fatalf("worker got %v; want NOOP", p.Type)
			}
			w.Send(wire.GrabJobUniq)
			switch p = w.Next(); p.Type {
			case wire.JobAssignUniq:
				ran()
				runs++
				w.Send(wire.WorkComplete, p.Args[0], "")
			case wire.NoJob:
			default:
				t.Fatalf("worker got %v after a grab", p.Type)
			}
			w.Send(wire.PreSleep)
		}
	}
	return runs
}

// handleNumber returns the number at the end of a handle: the same for a
// job on every server of a cluster.
func handleNumber(h string) string { return h[strings.LastIndexByte(h, ':')+1:] }

// expectWoken waits until sleeping worker w is woken, then grabs.
func expectAssigned(t *testing.T, w *wiretest.Peer, d time.Duration) wiretest.Pkt {
	t.Helper()
	p, err := w.NextErr(d)
	if err != nil {
		t.Fatalf("worker not woken within %v: %v", d, err)
	}
	if p.Type != wire.Noop {
		t.Fatalf("worker got %v; want NOOP", p.Type)
	}
	w.Send(wire.GrabJobUniq)
	return w.ExpectType(wire.JobAssignUniq)
}

func TestClusterJobSubmittedOnOneServerRunsOnAnother(t *testing.T) {
	url := pgtest.Start(t)
	_, a := clusterServer(t, url, "a")
	_, b := clusterServer(t, url, "b")
	w := wiretest.SleepingWorker(t, b, "f")

	c := wiretest.Dial(t, a)
	c.Send(wire.SubmitJobBg, "f", "", "payload\x00bytes")
	h := c.ExpectType(wire.JobCreated).Args[0]

	got := expectAssigned(t, w, 5*time.Second)
	if handleNumber(got.Args[0]) != handleNumber(h) || got.Args[1] != "f" || got.Args[3] != "payload\x00bytes" {
		t.Fatalf("worker on b got %q; want the job %s submitted on a", got.Args, h)
	}
	w.Send(wire.WorkComplete, got.Args[0], "done")
	w.Sync()
	// Gone from the shared queue (its end is recorded without waiting,
	// within a commit): neither server knows it any more.
	for _, addr := range []string{a, b} {
		p := wiretest.Dial(t, addr)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			p.Send(wire.GetStatus, h)
			if st := p.ExpectType(wire.StatusRes); st.Args[1] == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still known on %s after it completed", h, addr)
			}
		}
	}
}

func TestClusterUniqueIDsStatusAndCancelAnswerOnEveryServer(t *testing.T) {
	url := pgtest.Start(t)
	_, a := clusterServer(t, url, "a")
	_, b := clusterServer(t, url, "b")
	ca, cb := wiretest.Dial(t, a), wiretest.Dial(t, b)

	ca.Send(wire.SubmitJobBg, "f", "u1", "first")
	h1 := ca.ExpectType(wire.JobCreated).Args[0]
	cb.Send(wire.SubmitJobBg, "f", "u1", "second")
	h2 := cb.ExpectType(wire.JobCreated).Args[0]
	if handleNumber(h1) != handleNumber(h2) {
		t.Fatalf("the same unique id on two servers made jobs %s and %s; want one", h1, h2)
	}
	cb.Send(wire.SubmitJobBg, "g", "u1", "other function")
	if h3 := cb.ExpectType(wire.JobCreated).Args[0]; handleNumber(h3) == handleNumber(h1) {
		t.Fatalf("the same unique id under another function joined job %s", h1)
	}

	cb.Send(wire.GetStatus, h1)
	cb.Expect(wire.StatusRes, h1, "1", "0", "0", "0")
	cb.Send(wire.GetStatusUnique, "u1")
	cb.Expect(wire.StatusResUnique, "u1", "1", "0", "0", "0", "0")

	if got := cb.Admin("cancel job "+h1, false); got != "OK\r\n" {
		t.Fatalf("cancel job %s on b = %q; want OK", h1, got)
	}
	ca.Send(wire.GetStatus, h1)
	ca.Expect(wire.StatusRes, h1, "0", "0", "0", "0")
	if got := ca.Admin("cancel job "+h1, false); got != "ERR UNKNOWN_JOB\r\n" {
		t.Fatalf("cancel job %s again = %q; want ERR UNKNOWN_JOB", h1, got)
	}

	// A worker anywhere gets only the job of g.
	w := wiretest.SleepingWorker(t, a, "f", "g")
	if got := expectAssigned(t, w, 5*time.Second); got.Args[1] != "g" {
		t.Fatalf("worker got %q; want the job of g (f's was cancelled)", got.Args)
	}
}

func TestClusterEpochJobFiresOnceWithThreeServers(t *testing.T) {
	url := pgtest.Start(t)
	addrs, workers := threeServers(t, url, "f")
	c := wiretest.Dial(t, addrs[0])
	at := time.Now().Add(time.Second).Unix()
	c.Send(wire.SubmitJobEpoch, "f", "", fmt.Sprint(at), "once")
	c.ExpectType(wire.JobCreated)

	runs := runFor(t, workers, time.Until(time.Unix(at, 0))+3*clusterOpts.Poll+2*time.Second, func() {
		if time.Now().Unix() < at {
			t.Errorf("epoch job ran at %v, before its time %v", time.Now(), time.Unix(at, 0))
		}
	})
	if runs != 1 {
		t.Fatalf("the epoch job ran %d times on three servers; want once", runs)
	}
}

func TestClusterRunningJobShowsEverywhereAndOfAStoppedServerRunsElsewhere(t *testing.T) {
	url := pgtest.Start(t)
	sa, a := clusterServer(t, url, "a")
	_, b := clusterServer(t, url, "b")
	wa := wiretest.SleepingWorker(t, a, "f")
	c := wiretest.Dial(t, a)
	c.Send(wire.SubmitJobBg, "f", "u", "x")
	h := c.ExpectType(wire.JobCreated).Args[0]
	onA := expectAssigned(t, wa, 5*time.Second)
	wa.Send(wire.WorkStatus, onA.Args[0], "1", "4")

	// b has the job's status from the shared queue: running, a quarter
	// done.
	cb := wiretest.Dial(t, b)
	deadline := time.Now().Add(5 * time.Second)
	for {
		cb.Send(wire.GetStatus, h)
		p := cb.ExpectType(wire.StatusRes)
		if p.Args[2] == "1" && p.Args[3] == "1" && p.Args[4] == "4" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's status of the job running on a: %q; want running, 1/4", p.Args)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wb := wiretest.SleepingWorker(t, b, "f")
	sa.Close() // gives back what it held: the running job too
	got := expectAssigned(t, wb, 5*time.Second)
	if handleNumber(got.Args[0]) != handleNumber(h) {
		t.Fatalf("b's worker got %q; want job %s", got.Args, h)
	}
	// The attempt on a was lost: with JobRetries 1 it would fail now; here
	// the count shows in the shared queue's view.
	if n := pgtest.Value[int64](t, url, "SELECT retries FROM gearman_jobs WHERE id = "+handleNumber(h)); n != 1 {
		t.Fatalf("retries = %d; want 1 (the attempt lost with server a)", n)
	}
}

func TestClusterDatabaseUnreachableRefusesSubmitsAndLosesNothing(t *testing.T) {
	url := pgtest.Start(t)
	px := pgtest.NewProxy(t, url)
	_, a := clusterServer(t, px.URL(), "a")
	w := wiretest.SleepingWorker(t, a, "f")
	c := wiretest.Dial(t, a)
	c.Send(wire.SubmitJobBg, "f", "", "runs through the outage")
	h := c.ExpectType(wire.JobCreated).Args[0]
	job := expectAssigned(t, w, 5*time.Second)

	px.Cut()
	// Submits fail with QUEUE_ERROR, never a JOB_CREATED that is not
	// durable; the running job goes on.
	c.Send(wire.SubmitJobBg, "f", "", "refused")
	if p := c.Next(); p.Type != wire.Error || p.Args[0] != "QUEUE_ERROR" {
		t.Fatalf("submit during the outage: %v %q; want ERROR QUEUE_ERROR", p.Type, p.Args)
	}
	w.Send(wire.WorkComplete, job.Args[0], "done")

	px.Restore()
	var h2 string
	for deadline := time.Now().Add(20 * time.Second); h2 == ""; time.Sleep(50 * time.Millisecond) {
		c.Send(wire.SubmitJobBg, "g", "", "after")
		switch p := c.Next(); p.Type {
		case wire.JobCreated:
			h2 = p.Args[0]
		case wire.Error:
			if time.Now().After(deadline) {
				t.Fatalf("submits still refused 20 s after the database came back: %q", p.Args)
			}
		default:
			t.Fatalf("submit after the outage: %v", p.Type)
		}
	}
	// The result of the job that ran through the outage is recorded: its
	// row goes; the new job's is there.
	for deadline := time.Now().Add(10 * time.Second); pgtest.Value[int64](t, url, "SELECT count(*) FROM gearman_job WHERE id = "+handleNumber(h)) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("job %s, completed during the outage, still in the queue 10 s after", h)
		}
	}
	if n := pgtest.Value[int64](t, url, "SELECT count(*) FROM gearman_job WHERE id = "+handleNumber(h2)); n != 1 {
		t.Fatalf("job %s acknowledged after the outage: %d rows; want 1", h2, n)
	}
}

func TestClusterScheduledJobRunsOnceAndWaitsInTheSharedQueue(t *testing.T) {
	url := pgtest.Start(t)
	addrs, workers := threeServers(t, url, "cron")
	c := wiretest.Dial(t, addrs[1])
	// Once a year (midnight, January 1st): its next time after the run is
	// months away, so the window below cannot see a second run that is
	// rightly due (every minute would be, across a minute's boundary).
	c.Send(wire.SubmitJobSched, "cron", "yearly", "0", "0", "1", "1", "*", "tick")
	h := c.ExpectType(wire.JobCreated).Args[0]
	id := handleNumber(h)
	if at := pgtest.Value[int64](t, url, "SELECT run_at FROM gearman_job WHERE id = "+id); at <= time.Now().Unix() {
		t.Fatalf("scheduled job's run_at %d is not in the future", at)
	}
	// Its time comes (by the database's clock, which every server uses).
	pgtest.Exec(t, url, "UPDATE gearman_job SET run_at = 0 WHERE id = "+id)

	runs := runFor(t, workers, 3*time.Second, func() {})
	if runs != 1 {
		t.Fatalf("the scheduled job ran %d times on three servers; want once", runs)
	}
	// It waits for its next time in the shared queue, held by nobody.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		free := pgtest.Value[int64](t, url, "SELECT count(*) FROM gearman_job WHERE id = "+id+" AND owner IS NULL AND NOT running AND run_at > extract(epoch FROM now())")
		if free == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after its run the scheduled job %s is not back in the shared queue, free, waiting for its next time", h)
		}
	}
}
