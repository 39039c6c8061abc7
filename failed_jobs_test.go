package gearman_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// failRun has worker w, asleep, take the job the server wakes it for
// and fail it: WORK_FAIL when exc is "", else WORK_EXCEPTION exc. Then w
// sleeps again.
func failRun(t *testing.T, w *wiretest.Peer, handle, fn, unique, data, exc string) {
	t.Helper()
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, handle, fn, unique, data)
	if exc == "" {
		w.Send(wire.WorkFail, handle)
	} else {
		w.Send(wire.WorkException, handle, exc)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	w.Send(wire.PreSleep)
	w.Sync()
}

// TestServerRetryFailedThenDeadLetter runs a background job that always
// fails under a policy of two retries, in virtual time: each retry comes
// within its backoff's bounds (half of it to all of it, rounded up to a
// second), then the job is a dead letter, which the admin lists, retries
// (it runs again) and purges; the metrics count each step.
func TestServerRetryFailedThenDeadLetter(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", RetryFailed: gearman.RetryPolicy{Retries: 2, Backoff: 10 * time.Second, MaxBackoff: time.Minute, Keep: true}}
	clk := srvFakeClock(s, srvT0)
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	addr := srvStart(t, s)
	w := wiretest.SleepingWorker(t, addr, "f")
	c := wiretest.Dial(t, addr)
	a := wiretest.Dial(t, addr)

	c.Send(wire.SubmitJobBg, "f", "u1", "p1")
	c.Expect(wire.JobCreated, "H:test:1")
	failRun(t, w, "H:test:1", "f", "u1", "p1", "")
	if got := a.Admin("status", true); got != "f\t1\t0\t1\n.\n" {
		t.Errorf("status while the retry waits = %q", got)
	}
	// The first retry waits 5 to 10 s.
	clk.Advance(4 * time.Second)
	w.ExpectNone(quiet)
	clk.Advance(6 * time.Second)
	failRun(t, w, "H:test:1", "f", "u1", "p1", "boom: disk full")
	// The second waits 10 to 20 s.
	clk.Advance(9 * time.Second)
	w.ExpectNone(quiet)
	clk.Advance(11 * time.Second)
	failRun(t, w, "H:test:1", "f", "u1", "p1", "")
	clk.Advance(time.Hour)
	w.ExpectNone(quiet) // out of retries

	if got := a.Admin("status", true); got != "f\t0\t0\t1\n.\n" {
		t.Errorf("status with a dead letter = %q", got)
	}
	want := "H:test:1\tf\tu1\t3\t2030-01-01T00:00:30Z\t2030-01-01T00:01:00Z\tWORK_FAIL\n.\n"
	if got := a.Admin("show dead", true); got != want {
		t.Errorf("show dead = %q; want %q", got, want)
	}
	if got := a.Admin("show dead other", true); got != ".\n" {
		t.Errorf("show dead other = %q", got)
	}
	list, total, err := s.DeadLetters(context.Background(), "", 0)
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("DeadLetters = %v, %d, %v", list, total, err)
	}
	if d := list[0]; d.Handle != "H:test:1" || string(d.Data) != "p1" || d.Attempts != 3 || d.Error != "WORK_FAIL" ||
		!d.First.Equal(srvT0) || !d.Last.Equal(srvT0.Add(30*time.Second)) {
		t.Errorf("dead letter = %+v", d)
	}
	checkSamples(t, scrape(t, hs.URL+"/metrics"), map[string]float64{
		`gearman_jobs_submitted_total{function="f"}`:                   1,
		`gearman_jobs_finished_total{function="f",result="fail"}`:      2,
		`gearman_jobs_finished_total{function="f",result="exception"}`: 1,
		`gearman_jobs_finished_total{function="f",result="complete"}`:  0,
		`gearman_jobs_retried_total{function="f"}`:                     2,
		`gearman_jobs_dead_lettered_total{function="f"}`:               1,
		`gearman_dead_letters{function="f"}`:                           1,
		`gearman_jobs{function="f"}`:                                   0,
	})

	// Retried by the admin: it runs at once, and completes.
	if got := a.Admin("dead retry H:test:9", false); got != "OK 0\n" {
		t.Errorf("dead retry of an unknown handle = %q", got)
	}
	if got := a.Admin("dead retry H:test:1", false); got != "OK 1\n" {
		t.Errorf("dead retry = %q", got)
	}
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "f", "u1", "p1")
	w.Send(wire.WorkComplete, "H:test:1", "done")
	w.Send(wire.PreSleep)
	w.Sync()
	if got := a.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead after the retry = %q", got)
	}

	// A second job dies the same way, with retries anew; then it is
	// purged.
	c.Send(wire.SubmitJobBg, "f", "", "p2")
	c.Expect(wire.JobCreated, "H:test:2")
	failRun(t, w, "H:test:2", "f", "", "p2", "x")
	clk.Advance(10 * time.Second)
	failRun(t, w, "H:test:2", "f", "", "p2", "x")
	clk.Advance(20 * time.Second)
	failRun(t, w, "H:test:2", "f", "", "p2", "last\twords")
	if got := a.Admin("show dead f", true); got != "H:test:2\tf\t\t3\t2030-01-01T01:01:00Z\t2030-01-01T01:01:30Z\tlast words\n.\n" {
		t.Errorf("show dead f = %q", got)
	}
	if got := a.Admin("dead purge function g", false); got != "OK 0\n" {
		t.Errorf("dead purge function g = %q", got)
	}
	if got := a.Admin("dead purge all", false); got != "OK 1\n" {
		t.Errorf("dead purge all = %q", got)
	}
	if got := a.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead after the purge = %q", got)
	}
	checkSamples(t, scrape(t, hs.URL+"/metrics"), map[string]float64{
		`gearman_jobs_submitted_total{function="f"}`:                   2,
		`gearman_jobs_finished_total{function="f",result="fail"}`:      2,
		`gearman_jobs_finished_total{function="f",result="exception"}`: 4,
		`gearman_jobs_finished_total{function="f",result="complete"}`:  1,
		`gearman_jobs_retried_total{function="f"}`:                     5, // 2 + the admin's + 2
		`gearman_jobs_dead_lettered_total{function="f"}`:               2,
		`gearman_dead_letters{function="f"}`:                           0,
	})
}

// TestAdminRetriesSetsThePolicyPerFunction: "retries" shows and sets a
// function's policy at run time; a function set to "off" drops failed
// jobs as gearmand does, one left to the server's keeps them, and a job
// whose last attempt (--job-retries) is lost with its worker is kept too.
func TestAdminRetriesSetsThePolicyPerFunction(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", JobRetries: 1, RetryFailed: gearman.RetryPolicy{Keep: true}}
	addr := srvStart(t, s)
	a := wiretest.Dial(t, addr)
	for _, tc := range []struct{ cmd, want string }{
		{"retries f", "OK 0 10s 1h0m0s keep server\n"},
		{"retries f 3 30s 5m drop", "OK\r\n"},
		{"retries f", "OK 3 30s 5m0s drop own\n"},
		{"retries f 2", "OK\r\n"},
		{"retries f", "OK 2 10s 1h0m0s keep own\n"},
		{"retries f default", "OK\r\n"},
		{"retries f", "OK 0 10s 1h0m0s keep server\n"},
		{"retries off off", "OK\r\n"},
		{"retries off", "OK 0 10s 1h0m0s drop own\n"},
		{"retries f -1", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+retries\r\n"},
		{"retries f 1 soon", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+retries\r\n"},
		{"retries", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+retries\r\n"},
		{"dead retry", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+dead\r\n"},
		{"dead purge function", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+dead\r\n"},
	} {
		if got := a.Admin(tc.cmd, false); got != tc.want {
			t.Errorf("%s = %q; want %q", tc.cmd, got, tc.want)
		}
	}
	c := wiretest.Dial(t, addr)
	for _, fn := range []string{"off", "f"} {
		c.Send(wire.SubmitJobBg, fn, "", "x")
		c.ExpectType(wire.JobCreated)
		w := wiretest.Dial(t, addr)
		w.Send(wire.CanDo, fn)
		w.Send(wire.GrabJobUniq)
		h := w.ExpectType(wire.JobAssignUniq).Args[0]
		w.Send(wire.WorkFail, h)
		w.Sync()
	}
	// A lost last attempt.
	c.Send(wire.SubmitJobBg, "lost", "", "y")
	c.ExpectType(wire.JobCreated)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "lost")
	w.Send(wire.GrabJobUniq)
	w.ExpectType(wire.JobAssignUniq)
	w.Send(wire.CantDo, "lost") // the attempt is lost, as with a disconnect
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n, _ := s.DeadLetters(context.Background(), "lost", 0); n == 1 || time.Now().After(deadline) {
			break
		}
	}
	got := a.Admin("show dead", true)
	want := regexp.MustCompile("^H:test:2\tf\t\t1\t[^\t]+\t[^\t]+\tWORK_FAIL\nH:test:3\tlost\t\t1\t[^\t]+\t[^\t]+\t1 attempts lost with their workers\n\\.\n$")
	if !want.MatchString(got) {
		t.Errorf("show dead = %q; want f's job and lost's, not off's", got)
	}
}

// TestDeadLettersAPI: /api/dead lists the dead letters as JSON, and the
// POSTs retry and purge them, refusing a request that selects nothing.
func TestDeadLettersAPI(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", RetryFailed: gearman.RetryPolicy{Keep: true}}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	addr := srvStart(t, s)
	c := wiretest.Dial(t, addr)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	for _, u := range []string{"a", "b"} {
		c.Send(wire.SubmitJobBg, "f", u, "payload")
		c.ExpectType(wire.JobCreated)
		w.Send(wire.GrabJobUniq)
		h := w.ExpectType(wire.JobAssignUniq).Args[0]
		if u == "a" {
			w.Send(wire.WorkException, h, "no a")
		} else {
			w.Send(wire.WorkWarning, h, "no b") // as this package's workers fail a job
			w.Send(wire.WorkFail, h)
		}
	}
	w.Sync()
	if list, _, _ := s.DeadLetters(context.Background(), "f", 0); len(list) != 2 || list[1].Error != "no b" {
		t.Errorf("dead letters: %+v; want the second's error from its WORK_WARNING", list)
	}
	code, body := get(t, hs.URL+"/api/dead?function=f&limit=1")
	var v struct {
		Function    string `json:"function"`
		Total       int    `json:"total"`
		DeadLetters []struct {
			Handle, Function, Unique, Priority, Error string
			Attempts, Size                            int
			First                                     time.Time `json:"first_failure"`
		} `json:"dead_letters"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/dead: %d %q: %v", code, body, err)
	}
	if v.Total != 2 || len(v.DeadLetters) != 1 || v.DeadLetters[0].Handle != "H:test:1" || v.DeadLetters[0].Unique != "a" ||
		v.DeadLetters[0].Error != "no a" || v.DeadLetters[0].Attempts != 1 || v.DeadLetters[0].Size != 7 ||
		v.DeadLetters[0].Priority != "normal" || v.DeadLetters[0].First.IsZero() {
		t.Errorf("GET /api/dead = %s", body)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(hs.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/api/dead/purge", nil); code != http.StatusBadRequest {
		t.Errorf("POST /api/dead/purge with no selection: %d %q; want 400", code, body)
	}
	if code, body := post("/api/dead/retry", url.Values{"handle": {"H:test:2"}}); code != http.StatusOK || !strings.Contains(body, `"retried": 1`) {
		t.Errorf("POST /api/dead/retry: %d %q", code, body)
	}
	if code, body := post("/api/dead/purge", url.Values{"all": {"1"}}); code != http.StatusOK || !strings.Contains(body, `"purged": 1`) {
		t.Errorf("POST /api/dead/purge: %d %q", code, body)
	}
	if _, body := get(t, hs.URL+"/api/dead"); !strings.Contains(body, `"total": 0`) {
		t.Errorf("GET /api/dead after the purge = %s", body)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:2", "f", "b", "payload") // the retried one
}

// After Close, the calls that change the dead letters fail with
// ErrServerClosed, the error Serve returns: one sentinel for the server,
// whichever part of it says so.
func TestDeadLettersAfterCloseErrServerClosed(t *testing.T) {
	s := &gearman.Server{RetryFailed: gearman.RetryPolicy{Keep: true}}
	srvStart(t, s)
	s.Close()
	ctx := context.Background()
	if _, err := s.RetryDeadLetters(ctx, "", ""); !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("RetryDeadLetters after Close = %v; want ErrServerClosed", err)
	}
	if _, err := s.PurgeDeadLetters(ctx, "", "f"); !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("PurgeDeadLetters after Close = %v; want ErrServerClosed", err)
	}
}

// TestScheduledJobFailedRunIsRetriedThenKept: a scheduled job's failed run
// is retried after its backoff; out of retries, the run is kept as a
// one-off dead letter with a handle of its own, and the schedule goes on.
func TestScheduledJobFailedRunIsRetriedThenKept(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", RetryFailed: gearman.RetryPolicy{Retries: 1, Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second, Keep: true}}
	clk := srvFakeClock(s, srvT0) // 00:00:30
	addr := srvStart(t, s)
	w := wiretest.SleepingWorker(t, addr, "cron")
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobSched, "cron", "tick", "5", "", "", "", "", "payload") // minute 5 of every hour
	c.Expect(wire.JobCreated, "H:test:1")
	clk.Advance(4*time.Minute + 30*time.Second) // 00:05:00
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "")
	clk.Advance(10 * time.Second) // the retry
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "again")
	a := wiretest.Dial(t, addr)
	if got := a.Admin("show dead", true); got != "H:test:2\tcron\ttick\t2\t2030-01-01T00:05:00Z\t2030-01-01T00:05:10Z\tagain\n.\n" {
		t.Errorf("show dead = %q; want the run as H:test:2", got)
	}
	if got := a.Admin("status", true); got != "cron\t1\t0\t1\n.\n" {
		t.Errorf("status = %q; want the schedule still there", got)
	}
	clk.Advance(time.Hour - 10*time.Second) // 01:05:00: the next run, with its retries anew
	failRun(t, w, "H:test:1", "cron", "tick", "payload", "")
	clk.Advance(10 * time.Second)
	w.Expect(wire.Noop)
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:1", "cron", "tick", "payload")
	w.Send(wire.WorkComplete, "H:test:1", "")
	w.Sync()
	if got := a.Admin("show dead", true); !strings.HasPrefix(got, "H:test:2\t") || strings.Count(got, "\n") != 2 {
		t.Errorf("show dead after a run that recovered = %q; want only H:test:2", got)
	}
}

// TestRetryFailedWithoutKeepDropsTheJob: retries without dead letters: a
// job out of retries is gone, as gearmand's failed jobs are, and nothing
// is left counted.
func TestRetryFailedWithoutKeepDropsTheJob(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", RetryFailed: gearman.RetryPolicy{Retries: 1, Backoff: 2 * time.Second}}
	clk := srvFakeClock(s, srvT0)
	addr := srvStart(t, s)
	w := wiretest.SleepingWorker(t, addr, "f")
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	failRun(t, w, "H:test:1", "f", "", "x", "")
	clk.Advance(2 * time.Second)
	failRun(t, w, "H:test:1", "f", "", "x", "")
	clk.Advance(time.Hour)
	w.ExpectNone(quiet)
	a := wiretest.Dial(t, addr)
	if got := a.Admin("status", true); got != "f\t0\t0\t1\n.\n" {
		t.Errorf("status = %q; want nothing left", got)
	}
	if got := a.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead = %q; want none kept", got)
	}
}

// TestAdminClientDeadLetters: the typed admin calls for failed jobs.
func TestAdminClientDeadLetters(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test"}
	addr := srvStart(t, s)
	ctx := t.Context()
	a, err := gearman.DialAdmin(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetRetries(ctx, "f", &gearman.RetryPolicy{Keep: true}); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Command(ctx, "retries", "f"); p != "0 10s 1h0m0s keep own" {
		t.Errorf("retries f after SetRetries = %q", p)
	}
	c := wiretest.Dial(t, addr)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	for _, u := range []string{"a", "b\tc"} {
		c.Send(wire.SubmitJobBg, "f", u, "x")
		c.ExpectType(wire.JobCreated)
		w.Send(wire.GrabJobUniq)
		h := w.ExpectType(wire.JobAssignUniq).Args[0]
		w.Send(wire.WorkException, h, "bad\nline")
	}
	w.Sync()
	list, err := a.ShowDead(ctx, "f")
	if err != nil || len(list) != 2 {
		t.Fatalf("ShowDead = %+v, %v", list, err)
	}
	if d := list[1]; d.Handle != "H:test:2" || d.Function != "f" || d.Unique != "b c" || d.Attempts != 1 || d.Error != "bad line" || d.First.IsZero() {
		t.Errorf("ShowDead's second = %+v", d)
	}
	if n, err := a.RetryDead(ctx, "H:test:1", ""); n != 1 || err != nil {
		t.Errorf("RetryDead = %d, %v", n, err)
	}
	if n, err := a.PurgeDead(ctx, "", "f"); n != 1 || err != nil {
		t.Errorf("PurgeDead = %d, %v", n, err)
	}
	if err := a.SetRetries(ctx, "f", nil); err != nil {
		t.Fatal(err)
	}
	var ae *gearman.AdminError
	if _, err := a.ClusterStatus(ctx); !errors.As(err, &ae) || ae.Code != "NOT_A_CLUSTER" {
		t.Errorf("ClusterStatus without a cluster: %v; want NOT_A_CLUSTER", err)
	}
}

// TestRevivedDeadLetterHasItsLostAttemptsAnew: a job kept after its last
// attempt was lost (JobRetries) gets its attempts anew when retried.
func TestRevivedDeadLetterHasItsLostAttemptsAnew(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test", JobRetries: 2, RetryFailed: gearman.RetryPolicy{Keep: true}}
	addr := srvStart(t, s)
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	w := wiretest.Dial(t, addr)
	lose := func() {
		t.Helper()
		w.Send(wire.CanDo, "f")
		w.Send(wire.GrabJobUniq)
		w.Expect(wire.JobAssignUniq, "H:test:1", "f", "", "x")
		w.Send(wire.CantDo, "f")
		w.Sync()
	}
	lose()
	lose()
	a := wiretest.Dial(t, addr)
	if got := a.Admin("dead retry H:test:1", false); got != "OK 1\n" {
		t.Fatalf("dead retry = %q; want the job kept after two lost attempts", got)
	}
	lose()
	if got := a.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead after one lost attempt of the retried job = %q; want none", got)
	}
	if got := a.Admin("status", true); got != "f\t1\t0\t0\n.\n" {
		t.Errorf("status = %q; want the job queued", got)
	}
}
