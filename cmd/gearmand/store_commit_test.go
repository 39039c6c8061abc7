package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file tests the store's commits on a slow disk: strace delays every
// fdatasync of the server.

// startSlowDisk runs cmd/gearmand on a store in a new directory, under
// strace, each fdatasync taking delay more; it returns the server and a
// count of the fdatasync calls so far.
func startSlowDisk(t *testing.T, delay time.Duration) (*child, func() int) {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		peertest.Missing(t, "strace is not installed (apt-get install strace): it delays the syncs")
	}
	trace := filepath.Join(t.TempDir(), "strace.out")
	srv := startUnder(t, []string{strace, "-f", "-qq", "-o", trace, "-e", "trace=fdatasync", "-e", "inject=fdatasync:delay_exit=" + strconv.FormatInt(delay.Microseconds(), 10)},
		"--store", "file:"+t.TempDir(), "--verbose", "WARNING")
	syncs := func() int {
		b, _ := os.ReadFile(trace)
		return len(regexp.MustCompile(`(?m)fdatasync\([0-9]+`).FindAll(b, -1))
	}
	return srv, syncs
}

// While a background submit waits for its sync (2 s), the server serves
// everyone else: a foreground job (never stored) goes from its client to
// a worker and back before the background submit's JOB_CREATED.
func TestSlowSyncDoesNotStallTheServer(t *testing.T) {
	srv, _ := startSlowDisk(t, 2*time.Second)
	bg := wiretest.Dial(t, srv.addr)
	created := make(chan struct{})
	bg.Send(wire.SubmitJobBg, "slow", "", "waits for its sync")
	go func() {
		defer close(created)
		bg.ExpectType(wire.JobCreated)
	}()

	w := wiretest.Dial(t, srv.addr)
	w.Send(wire.CanDo, "fast")
	fg := wiretest.Dial(t, srv.addr)
	fg.Send(wire.SubmitJob, "fast", "", "in memory")
	h := fg.ExpectType(wire.JobCreated).Args[0]
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, h, "fast", "in memory")
	w.Send(wire.WorkComplete, h, "done")
	fg.Expect(wire.WorkComplete, h, "done")
	fg.Send(wire.GetStatus, h)
	fg.Expect(wire.StatusRes, h, "0", "0", "0", "0")
	select {
	case <-created:
		t.Errorf("the background submit was answered before a foreground job's round trip: the server waited for the disk")
	default:
	}
	<-created
}

// Submits from many connections share syncs (group commit): 800 of them,
// each acknowledged only once durable, take a few syncs of a second each,
// not one each.
func TestSubmitsShareSyncs(t *testing.T) {
	srv, syncs := startSlowDisk(t, time.Second)
	before := syncs()
	const conns, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pipeline(srv.addr, fmt.Sprint("c", i), each)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Besides the commits, the spare segment's fill syncs every MiB.
	if n := syncs() - before; n > conns*each/8 {
		t.Errorf("%d background submits took %d syncs; want them shared", conns*each, n)
	} else {
		t.Logf("%d background submits, %d syncs", conns*each, n)
	}
}

// pipeline sends n background submits on one connection at once and reads
// their n JOB_CREATED.
func pipeline(addr, prefix string, n int) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	w := bufio.NewWriter(nc)
	var pkt []byte
	for i := range n {
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte("shared"), fmt.Appendf(nil, "%s-%d", prefix, i), []byte("p"))
		w.Write(pkt)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	r := wire.NewReader(nc)
	for range n {
		p, err := r.Next()
		if err != nil {
			return err
		}
		if p.Type != wire.JobCreated {
			return fmt.Errorf("%s: got %v; want JOB_CREATED", prefix, p.Type)
		}
	}
	return nil
}
