package jobserver

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/filestore"
	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// gatedLog is a real filestore whose commits are reported done only once
// the test opens the gate, so that jobs stay pending as long as it wants.
type gatedLog struct {
	*filestore.Log
	gate chan struct{}
}

// gatedCommit is done once the gate is open and its record durable.
type gatedCommit struct {
	g *gatedLog
	c store.Commit
}

func (c gatedCommit) Done() <-chan struct{} { return c.g.gate }
func (c gatedCommit) Err() error            { <-c.c.Done(); return c.c.Err() }

func (g *gatedLog) Created(j store.Job, seq uint64) (store.Ref, store.Commit) {
	ref, c := g.Log.Created(j, seq)
	return ref, gatedCommit{g, c}
}

// TestPendingJobsListedAndJoined: jobs whose records are not yet durable
// are listed as pending, a background submit with the unique id of a
// pending job joins it (one job, both answered with its handle once the
// record is durable), and once durable they are queued, not pending.
func TestPendingJobsListedAndJoined(t *testing.T) {
	fl, err := filestore.Open(t.TempDir(), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedLog{Log: fl, gate: make(chan struct{})}
	var once sync.Once
	open := func() { once.Do(func() { close(g.gate) }) }
	defer open()
	s := New(Config{Store: g})
	defer s.Close()
	cli, srv := net.Pipe()
	go s.ServeConn(srv)
	defer cli.Close()

	var req []byte
	for _, u := range []string{"a", "b", "a"} {
		req, _ = wire.AppendPacket(req, wire.Req, wire.SubmitJobBg, []byte("f"), []byte(u), []byte("x"))
	}
	go cli.Write(req)
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs := s.Jobs("f", 10)
		if len(jobs) == 2 && jobs[0].State == "pending" && jobs[1].State == "pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs = %+v; want 2 pending", jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	open()
	r := wire.NewReader(cli)
	var handles []string
	for range 3 {
		p, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if p.Type != wire.JobCreated {
			t.Fatalf("answer %v; want JOB_CREATED", p)
		}
		handles = append(handles, string(p.Arg(0)))
	}
	if handles[0] != handles[2] || handles[0] == handles[1] {
		t.Errorf("handles %q; want the third (unique a again) to be the first's", handles)
	}
	jobs := s.Jobs("f", 10)
	if len(jobs) != 2 || jobs[0].State != "queued" || jobs[1].State != "queued" {
		t.Errorf("after the sync, jobs = %+v; want 2 queued", jobs)
	}
}
