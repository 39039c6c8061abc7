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
	srvSync(w)
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

	wb := srvWorker(t, addrs[1], "f")
	clusterFail(t, wb, n, "first")
	wb.Send(wire.CantDo, "f") // the retry must run on a
	srvSync(wb)
	wa := srvWorker(t, addrs[0], "f")
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
	srvSync(wa)
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
