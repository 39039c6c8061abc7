package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// startStored runs cmd/gearmand (see start) on the store in dir, logging
// its warnings, with args.
func startStored(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	return start(t, append([]string{"--store", "file:" + dir, "--verbose", "WARNING"}, args...)...)
}

// flood submits background jobs with unique ids prefix-N on one
// connection, pipelined, until the connection ends or stop is closed, and
// returns the unique ids whose JOB_CREATED arrived, with their handles,
// and the ERRORs it got.
func flood(addr, prefix string, stop <-chan struct{}) (acked map[string]string, refused []string) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil
	}
	defer nc.Close()
	sent := make(chan string, 4096) // unique ids in order, for the reader
	go func() {
		defer close(sent)
		w := bufio.NewWriterSize(nc, 64<<10)
		var pkt []byte
		for i := 0; ; i++ {
			select {
			case <-stop:
				w.Flush()
				return
			default:
			}
			u := fmt.Sprintf("%s-%d", prefix, i)
			pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte("crash"), []byte(u), []byte("payload "+u))
			sent <- u
			if _, err := w.Write(pkt); err != nil {
				return
			}
			if i%64 == 63 {
				if w.Flush() != nil {
					return
				}
			}
		}
	}()
	acked = make(map[string]string)
	r := wire.NewReader(nc)
	for u := range sent {
		p, err := r.Next()
		if err != nil {
			for range sent {
			}
			break
		}
		switch p.Type {
		case wire.JobCreated:
			acked[u] = string(p.Args[0])
		case wire.Error:
			refused = append(refused, string(p.Args[0])+" "+string(p.Args[1]))
		}
	}
	return acked, refused
}

// drain runs every queued job of function fn to completion and returns
// how often each unique id ran, with the handles.
func drain(t *testing.T, addr, fn string) map[string][]string {
	t.Helper()
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, fn)
	ran := make(map[string][]string)
	for {
		w.Send(wire.GrabJobUniq)
		p := w.Next()
		if p.Type == wire.NoJob {
			return ran
		}
		if p.Type != wire.JobAssignUniq {
			t.Fatalf("worker got %v", p)
		}
		ran[p.Args[2]] = append(ran[p.Args[2]], p.Args[0])
		w.Send(wire.WorkComplete, p.Args[0], "")
	}
}

func TestKilledServerKeepsAcknowledgedJobs(t *testing.T) {
	dir := t.TempDir()
	srv := startStored(t, dir)
	stop := make(chan struct{})
	const conns = 4
	results := make([]map[string]string, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = flood(srv.addr, fmt.Sprintf("c%d", i), stop)
		}()
	}
	time.Sleep(300 * time.Millisecond) // mid-flood
	srv.kill()
	close(stop)
	wg.Wait()
	acked := make(map[string]string)
	for _, r := range results {
		for u, h := range r {
			acked[u] = h
		}
	}
	if len(acked) < 1000 {
		t.Fatalf("only %d submits acknowledged before the kill; the test needs a flood\n%s", len(acked), srv.stderr)
	}

	srv = startStored(t, dir)
	ran := drain(t, srv.addr, "crash")
	lost, twice, handles := 0, 0, 0
	for u, h := range acked {
		switch hs := ran[u]; {
		case len(hs) == 0:
			lost++
		case len(hs) > 1:
			twice++
		case hs[0] != h:
			handles++
		}
	}
	t.Logf("%d submits acknowledged before SIGKILL; %d jobs ran after the restart (%d stored but not yet acknowledged)", len(acked), len(ran), len(ran)-len(acked)+lost)
	if lost > 0 || twice > 0 || handles > 0 {
		t.Errorf("of %d acknowledged jobs, %d lost, %d ran twice, %d came back with another handle", len(acked), lost, twice, handles)
	}
}

func TestKilledServerCountsTheLostAttempt(t *testing.T) {
	dir := t.TempDir()
	srv := startStored(t, dir, "--job-retries", "2")
	sub := wiretest.Dial(t, srv.addr)
	sub.Send(wire.SubmitJobBg, "f", "u", "p")
	h := sub.ExpectType(wire.JobCreated).Args[0]
	for attempt := 1; attempt <= 3; attempt++ {
		w := wiretest.Dial(t, srv.addr)
		w.Send(wire.CanDo, "f")
		w.Send(wire.GrabJobUniq)
		if attempt == 3 {
			w.Expect(wire.NoJob) // both attempts were lost: the job failed
			return
		}
		w.Expect(wire.JobAssignUniq, h, "f", "u", "p")
		// The assignment is recorded without a wait; a later background
		// submit's JOB_CREATED says every record before it is durable.
		c := wiretest.Dial(t, srv.addr)
		c.Send(wire.SubmitJobBg, "sync", "", "")
		c.ExpectType(wire.JobCreated)
		srv.kill() // the attempt is lost with the process
		srv = startStored(t, dir, "--job-retries", "2")
	}
}

// A job whose WORK_COMPLETE the server took before a later background
// submit's JOB_CREATED is not run again after a crash: its end was written
// with that submit's record, or before it.
func TestKilledServerDoesNotRerunFinishedJobs(t *testing.T) {
	dir := t.TempDir()
	srv := startStored(t, dir)
	c := wiretest.Dial(t, srv.addr)
	handles, finished := make(map[string]string), make(map[string]bool)
	for i := range 20 {
		u := fmt.Sprint("u", i)
		c.Send(wire.SubmitJobBg, "f", u, "p")
		handles[u] = c.ExpectType(wire.JobCreated).Args[0]
	}
	w := wiretest.Dial(t, srv.addr)
	w.Send(wire.CanDo, "f")
	for i := range 10 {
		u := fmt.Sprint("u", i)
		w.Send(wire.GrabJobUniq)
		w.Expect(wire.JobAssignUniq, handles[u], "f", u, "p")
		w.Send(wire.WorkComplete, handles[u], "")
		finished[u] = true
	}
	w.Send(wire.EchoReq, "") // the server has taken every WORK_COMPLETE
	w.Expect(wire.EchoRes, "")
	c.Send(wire.SubmitJobBg, "f", "barrier", "p")
	handles["barrier"] = c.ExpectType(wire.JobCreated).Args[0]
	srv.kill()

	srv = startStored(t, dir)
	ran := drain(t, srv.addr, "f")
	for u, h := range handles {
		n := len(ran[u])
		switch {
		case finished[u] && n != 0:
			t.Errorf("job %s finished before the crash and ran again after it", u)
		case !finished[u] && (n != 1 || ran[u][0] != h):
			t.Errorf("job %s ran %d times after the restart, handles %v; want once, as %s", u, n, ran[u], h)
		}
	}
}

func TestKilledServerKeepsEpochJobs(t *testing.T) {
	dir := t.TempDir()
	srv := startStored(t, dir)
	c := wiretest.Dial(t, srv.addr)
	when := time.Now().Add(2 * time.Second)
	c.Send(wire.SubmitJobEpoch, "f", "e", strconv.FormatInt(when.Unix()+1, 10), "later")
	h := c.ExpectType(wire.JobCreated).Args[0]
	srv.kill()
	srv = startStored(t, dir)
	w := wiretest.Dial(t, srv.addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob) // not yet
	w.Send(wire.PreSleep)
	w.Expect(wire.Noop) // at its time
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, h, "f", "e", "later")
	if time.Now().Before(when) {
		t.Errorf("the epoch job ran before its time")
	}
}

func TestFullDiskRefusesSubmitsAndKeepsTheRest(t *testing.T) {
	if os.Geteuid() != 0 {
		peertest.Missing(t, "mounting a small tmpfs (a real full disk) needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		peertest.Missing(t, fmt.Sprintf("cannot mount a tmpfs: %v %s", err, out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	srv := startStored(t, dir)
	stop := make(chan struct{})
	var acked map[string]string
	var refused []string
	done := make(chan struct{})
	go func() { acked, refused = flood(srv.addr, "d", stop); close(done) }()
	// Stop the flood once the disk is full and submits are refused.
	deadline := time.After(20 * time.Second)
	for {
		var fs syscall.Statfs_t
		if syscall.Statfs(dir, &fs) == nil && fs.Bavail == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the disk never filled")
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if len(refused) == 0 {
		t.Fatalf("no submit refused on a full disk (%d acknowledged)", len(acked))
	}
	for _, e := range refused {
		if !bytes.HasPrefix([]byte(e), []byte("QUEUE_ERROR ")) {
			t.Fatalf("refusal %q; want QUEUE_ERROR", e)
		}
	}
	// The server still serves, and takes jobs again once there is room.
	c := wiretest.Dial(t, srv.addr)
	c.Send(wire.EchoReq, "alive")
	c.Expect(wire.EchoRes, "alive")
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	c.Send(wire.SubmitJobBg, "crash", "after", "payload after")
	acked["after"] = c.ExpectType(wire.JobCreated).Args[0]
	srv.kill()

	srv = startStored(t, dir)
	ran := drain(t, srv.addr, "crash")
	lost := 0
	for u := range acked {
		if len(ran[u]) != 1 {
			lost++
		}
	}
	t.Logf("%d submits acknowledged, %d refused on the full disk", len(acked), len(refused))
	if lost > 0 {
		t.Errorf("%d of %d acknowledged jobs did not run exactly once after the restart", lost, len(acked))
	}
}

func TestFailedSyncRefusesTheSubmit(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		peertest.Missing(t, "strace is not installed (apt-get install strace): it injects the I/O errors")
	}
	dir := t.TempDir()
	srv := startStored(t, dir)
	c := wiretest.Dial(t, srv.addr)
	c.Send(wire.SubmitJobBg, "f", "kept", "before")
	kept := c.ExpectType(wire.JobCreated).Args[0]
	srv.kill()

	// Every fdatasync of the restarted server fails, as on a failing disk.
	srv = startUnder(t, []string{strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO"},
		"--store", "file:"+dir, "--verbose", "WARNING")
	c = wiretest.Dial(t, srv.addr)
	for i := range 3 {
		c.Send(wire.SubmitJobBg, "f", fmt.Sprint("lost", i), "after")
		if p := c.Next(); p.Type != wire.Error || p.Args[0] != "QUEUE_ERROR" {
			t.Fatalf("submit %d on a failing disk: got %v; want ERROR QUEUE_ERROR", i, p)
		}
	}
	c.Send(wire.SubmitJob, "g", "", "foreground jobs are not stored")
	c.ExpectType(wire.JobCreated)
	srv.kill()

	srv = startStored(t, dir)
	ran := drain(t, srv.addr, "f")
	if len(ran) != 1 || len(ran["kept"]) != 1 || ran["kept"][0] != kept {
		t.Errorf("after the failing disk, the store ran %v; want only job %s", ran, kept)
	}
}
