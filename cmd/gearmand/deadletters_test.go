package main

import (
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// durable returns once every record the server at addr queued so far is
// durable: a background submit's JOB_CREATED waits for its record, which
// is written after them.
func durable(t *testing.T, addr string) {
	t.Helper()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "sync", "", "")
	c.ExpectType(wire.JobCreated)
}

// failOnce has a new worker of fn take the job handle and fail it with
// WORK_EXCEPTION exc (WORK_FAIL when ""), waiting for it first when wait.
func failOnce(t *testing.T, addr, fn, handle, unique, data, exc string, wait bool) {
	t.Helper()
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, fn)
	if wait {
		w.Send(wire.PreSleep)
		w.Expect(wire.Noop)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, handle, fn, unique, data)
	if exc == "" {
		w.Send(wire.WorkFail, handle)
	} else {
		w.Send(wire.WorkException, handle, exc)
	}
	w.Send(wire.EchoReq, "x")
	w.Expect(wire.EchoRes, "x")
}

// failNext has a new worker of fn wait for a job, take whichever comes
// (one of lastErr's handles) and fail it with WORK_EXCEPTION lastErr[handle].
func failNext(t *testing.T, addr, fn string, lastErr map[string]string) {
	t.Helper()
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, fn)
	w.Send(wire.PreSleep)
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	h := string(w.ExpectType(wire.JobAssignUniq).Args[0])
	exc, ok := lastErr[h]
	if !ok {
		t.Fatalf("%s assigned; want one of %q", h, lastErr)
	}
	w.Send(wire.WorkException, h, exc)
	w.Send(wire.EchoReq, "x")
	w.Expect(wire.EchoRes, "x")
}

// TestKilledServerKeepsDeadLetters: with --retry-failed 1 and the embedded
// store, a job that fails twice is a dead letter; the server is killed
// (SIGKILL) and started again, and the dead letter is still there, with
// its attempts and last error; a job whose retry was waiting when the
// server died still runs; a retried dead letter runs and a purged one
// stays gone across the next crash.
func TestKilledServerKeepsDeadLetters(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--retry-failed", "1", "--retry-backoff", "1s", "--retry-max-backoff", "1s"}
	srv := startStored(t, dir, args...)
	c := wiretest.Dial(t, srv.addr)
	c.Send(wire.SubmitJobBg, "f", "u1", "p1")
	h1 := string(c.ExpectType(wire.JobCreated).Args[0])
	c.Send(wire.SubmitJobBg, "f", "u2", "p2")
	h2 := string(c.ExpectType(wire.JobCreated).Args[0])
	c.Send(wire.SubmitJobBg, "g", "u3", "p3")
	h3 := string(c.ExpectType(wire.JobCreated).Args[0])
	failOnce(t, srv.addr, "f", h1, "u1", "p1", "", false)
	failOnce(t, srv.addr, "f", h2, "u2", "p2", "", false)
	// Their retries come within the same second or so, in either order
	// (the backoff's jitter): each is failed again, out of retries, with
	// an error of its own.
	lastErr := map[string]string{h1: "boom", h2: "out\tof ink"}
	failNext(t, srv.addr, "f", lastErr)
	failOnce(t, srv.addr, "g", h3, "u3", "p3", "", false) // its retry waits
	failNext(t, srv.addr, "f", lastErr)
	durable(t, srv.addr)
	srv.kill()

	srv = startStored(t, dir, args...)
	a := wiretest.Dial(t, srv.addr)
	got := a.Admin("show dead", true)
	lines := strings.Split(strings.TrimSuffix(got, ".\n"), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("show dead after the crash = %q; want two dead letters", got)
	}
	want := map[string][]string{h1: {h1, "f", "u1", "2", "boom"}, h2: {h2, "f", "u2", "2", "out of ink"}}
	for _, line := range lines[:2] {
		f := strings.Split(line, "\t")
		w, ok := want[f[0]]
		if len(f) != 7 || !ok || f[1] != w[1] || f[2] != w[2] || f[3] != w[3] || f[6] != w[4] {
			t.Errorf("dead letter after the crash = %q; want one of %q", line, want)
		}
		delete(want, f[0])
	}
	// The job whose retry was waiting runs once its time comes.
	w := wiretest.Dial(t, srv.addr)
	w.Send(wire.CanDo, "g")
	w.Send(wire.PreSleep)
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, h3, "g", "u3", "p3")
	w.Send(wire.WorkComplete, h3, "")

	if got := a.Admin("dead retry "+h1, false); got != "OK 1\n" {
		t.Fatalf("dead retry = %q", got)
	}
	if got := a.Admin("dead purge "+h2, false); got != "OK 1\n" {
		t.Fatalf("dead purge = %q", got)
	}
	durable(t, srv.addr)
	srv.kill()

	srv = startStored(t, dir, args...)
	a = wiretest.Dial(t, srv.addr)
	if got := a.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead after the second crash = %q; want none", got)
	}
	w = wiretest.Dial(t, srv.addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, h1, "f", "u1", "p1") // the retried one, queued
	w.Send(wire.WorkComplete, h1, "")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob) // the purged one is gone
}
