package gearman_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// clusterFail has sleeping worker w take the job it is woken for, which
// must be number n, and fail it with WORK_EXCEPTION exc.
func clusterFail(t *testing.T, w *wiretest.Peer, n, exc string) {
	t.Helper()
	got := expectAssigned(t, w, 10*time.Second)
	if handleNumber(got.Args[0]) != n {
		t.Fatalf("worker got job %s; want %s", got.Args[0], n)
	}
	w.Send(wire.WorkException, got.Args[0], exc)
	w.Send(wire.PreSleep)
	w.Sync()
}

// waitDead waits until s lists want dead letters.
func waitDead(t *testing.T, s *gearman.Server, want int) []gearman.DeadLetter {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		list, total, err := s.DeadLetters(context.Background(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if total == want && len(list) == want {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters; want %d", total, want)
		}
	}
}

// TestClusterRetriesFailedJobsAndSharesDeadLetters: on a cluster, a failed
// job's retry waits in the shared queue and may run on another server;
// once out of retries it is a dead letter of the cluster, which every
// server lists, and which any server retries or purges.
func TestClusterRetriesFailedJobsAndSharesDeadLetters(t *testing.T) {
	url := pgtest.Start(t)
	policy := gearman.RetryPolicy{Retries: 1, Backoff: time.Second, MaxBackoff: time.Second, Keep: true}
	var servers []*gearman.Server
	var addrs []string
	for _, name := range []string{"a", "b"} {
		st, err := gearman.OpenStore(t.Context(), url, &clusterOpts)
		if err != nil {
			t.Fatal(err)
		}
		s := &gearman.Server{HandlePrefix: "H:" + name, Store: st, RetryFailed: policy}
		servers = append(servers, s)
		addrs = append(addrs, srvStart(t, s))
	}
	c := wiretest.Dial(t, addrs[0])
	c.Send(wire.SubmitJobBg, "f", "order-1", "p1")
	n := handleNumber(c.ExpectType(wire.JobCreated).Args[0])

	wb := wiretest.SleepingWorker(t, addrs[1], "f")
	clusterFail(t, wb, n, "first")
	wb.Send(wire.CantDo, "f") // the retry must run on a
	wb.Sync()
	wa := wiretest.SleepingWorker(t, addrs[0], "f")
	clusterFail(t, wa, n, "second")

	for i, s := range servers {
		list := waitDead(t, s, 1)
		d := list[0]
		if handleNumber(d.Handle) != n || !strings.HasPrefix(d.Handle, "H:"+"ab"[i:i+1]+":") || d.Function != "f" ||
			d.Unique != "order-1" || string(d.Data) != "p1" || d.Attempts != 2 || d.Error != "second" || !d.Last.After(d.First) {
			t.Errorf("dead letter on server %d: %+v", i, d)
		}
	}
	ad := wiretest.Dial(t, addrs[1])
	if got := ad.Admin("show dead", true); !strings.HasPrefix(got, "H:b:"+n+"\tf\torder-1\t2\t") || !strings.HasSuffix(got, "\tsecond\n.\n") {
		t.Errorf("show dead on b = %q", got)
	}

	// Retried from b: it runs (on a, the only worker), and completes.
	if got := ad.Admin("dead retry H:b:"+n, false); got != "OK 1\n" {
		t.Fatalf("dead retry on b = %q", got)
	}
	got := expectAssigned(t, wa, 10*time.Second)
	if handleNumber(got.Args[0]) != n || got.Args[3] != "p1" {
		t.Fatalf("after the retry, a's worker got %q", got.Args)
	}
	wa.Send(wire.WorkComplete, got.Args[0], "")
	wa.Send(wire.PreSleep)
	wa.Sync()
	waitDead(t, servers[0], 0)

	// Purged from a: gone for b too.
	c.Send(wire.SubmitJobBg, "f", "", "p2")
	n2 := handleNumber(c.ExpectType(wire.JobCreated).Args[0])
	clusterFail(t, wa, n2, "x")
	clusterFail(t, wa, n2, "y")
	waitDead(t, servers[1], 1)
	if got := wiretest.Dial(t, addrs[0]).Admin("dead purge function f", false); got != "OK 1\n" {
		t.Fatalf("dead purge on a = %q", got)
	}
	if got := ad.Admin("show dead", true); got != ".\n" {
		t.Errorf("show dead on b after the purge = %q", got)
	}
}

// TestClusterScheduledJobRetryThenRunEndsWell: on PostgreSQL, a scheduled
// job's failed run waits for its retry in the shared queue with its
// failure stored; the retry that ends well leaves the row waiting for the
// next scheduled run with no failures, so that run has its retries anew.
func TestClusterScheduledJobRetryThenRunEndsWell(t *testing.T) {
	url := pgtest.Start(t)
	st, err := gearman.OpenStore(t.Context(), url, &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	s := &gearman.Server{HandlePrefix: "H:a", Store: st,
		RetryFailed: gearman.RetryPolicy{Retries: 1, Backoff: time.Second, MaxBackoff: time.Second, Keep: true}}
	addr := srvStart(t, s)
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobSched, "cron", "nightly", "0", "3", "", "", "", "tick") // 03:00 every day
	n := handleNumber(c.ExpectType(wire.JobCreated).Args[0])
	pgtest.Exec(t, url, "UPDATE gearman_job SET run_at = 0 WHERE id = "+n) // its time comes
	w := wiretest.SleepingWorker(t, addr, "cron")
	clusterFail(t, w, n, "boom")
	got := expectAssigned(t, w, 10*time.Second) // the retry, after 1 s in the shared queue
	w.Send(wire.WorkComplete, got.Args[0], "")
	w.Send(wire.PreSleep)
	w.Sync()
	query := "SELECT count(*) FROM gearman_job WHERE id = " + n +
		" AND failures = 0 AND owner IS NULL AND NOT running AND run_at > extract(epoch FROM now()) + 2" // not a retry's 1 s
	for deadline := time.Now().Add(10 * time.Second); pgtest.Value[int64](t, url, query) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after its retry ended well, the scheduled job's row is not free, without failures, waiting for its next run: %v",
				pgtest.Value[string](t, url, "SELECT row_to_json(j)::text FROM gearman_job j WHERE id = "+n))
		}
	}
	if _, total, err := s.DeadLetters(t.Context(), "", 0); err != nil || total != 0 {
		t.Errorf("dead letters: %d, %v; want none", total, err)
	}
}
