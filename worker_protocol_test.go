package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestScriptGrabFallback(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	if err := c.Register("rev", reverseHandler, nil); err != nil {
		t.Fatal(err)
	}
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.Error, "ERR_UNKNOWN_COMMAND", "Unknown+command")
	p.ExpectPacket(wire.GrabJob)
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	p.Send(wire.Noop)
	p.ExpectPacket(wire.GrabJob) // the fallback sticks
	p.Send(wire.JobAssign, "H:1", "rev", "abc")
	if got := p.ExpectPacket(wire.WorkComplete); string(got.Arg(0)) != "H:1" || string(got.Arg(1)) != "cba" {
		t.Fatalf("got %v; want WORK_COMPLETE H:1 cba", got)
	}
	p.ExpectPacket(wire.GrabJob)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
}

// A NOOP that comes while a grab is unanswered (abraxas sends them) must not
// draw a second grab; after NO_JOB the worker sleeps, and a NOOP wakes it.
func TestScriptNoopDuringGrab(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	c.Register("rev", reverseHandler, nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.Noop)
	p.Send(wire.Noop)
	barrier(t, c, p) // fails on a second GRAB_JOB_UNIQ
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	barrier(t, c, p) // asleep: nothing more
	p.Send(wire.Noop)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
}

// abraxas defect 14: a JOB_NOT_FOUND ERROR about a worker's packet must not
// be taken as the answer to a pending submit.
func TestScriptJobNotFoundAfterComplete(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	g := newGate("H:w")
	c.Register("g", g, nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:w", "g", "", "x")
	recv(t, g.started)
	ch := submitAsync(ctx, c, gearman.Job{Func: "f"})
	p.ExpectPacket(wire.SubmitJob)
	g.release["H:w"] <- nil
	p.ExpectPacket(wire.WorkData)
	p.ExpectPacket(wire.WorkComplete)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.Error, "JOB_NOT_FOUND", "Job given in work result not found")
	p.Send(wire.JobCreated, "H:c")
	s := recv(t, ch)
	if s.err != nil || s.task.Handle() != "H:c" {
		t.Fatalf("submit: %v", s.err)
	}
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	barrier(t, c, p)
}

func TestScriptWorkerFailurePackets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		exceptions bool // the server agrees to exceptions
		send       bool // Options.SendExceptions
		err        error
		want       []wire.Type
	}{
		{"default", true, false, errors.New("boom"), []wire.Type{wire.WorkWarning, wire.WorkFail}},
		{"SendExceptions", true, true, errors.New("boom"), []wire.Type{wire.WorkException}},
		{"SendExceptions refused", false, true, errors.New("boom"), []wire.Type{wire.WorkWarning, wire.WorkFail}},
		{"ErrJobFailed", true, true, fmt.Errorf("no: %w", gearman.ErrJobFailed), []wire.Type{wire.WorkFail}},
		{"success", true, true, nil, []wire.Type{wire.WorkComplete}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, &gearman.Options{SendExceptions: tc.send}, tc.exceptions)
			c.Register("f", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
				return tc.err
			}), nil)
			p.ExpectPacket(wire.CanDo)
			p.ExpectPacket(wire.GrabJobUniq)
			p.Send(wire.JobAssignUniq, "H:1", "f", "u", "payload")
			for _, typ := range tc.want {
				got := p.ExpectPacket(typ)
				if string(got.Arg(0)) != "H:1" {
					t.Fatalf("got %v; want handle H:1", got)
				}
				if typ == wire.WorkWarning || typ == wire.WorkException {
					if string(got.Arg(1)) != "boom" {
						t.Fatalf("got %v; want message boom", got)
					}
				}
			}
			p.ExpectPacket(wire.GrabJobUniq)
		})
	}
}

func TestScriptCanDoTimeout(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1500 * time.Millisecond, "1500"},
		{2 * time.Minute, "120000"},
		{10 * time.Microsecond, "1"},
	} {
		if err := c.Register("f", reverseHandler, &gearman.RegisterOptions{Timeout: tc.d}); err != nil {
			t.Fatal(err)
		}
		got := p.ExpectPacket(wire.CanDoTimeout)
		if string(got.Arg(0)) != "f" || string(got.Arg(1)) != tc.want {
			t.Fatalf("got %v; want CAN_DO_TIMEOUT f %s", got, tc.want)
		}
		if tc.d == 1500*time.Millisecond {
			p.ExpectPacket(wire.GrabJobUniq)
		}
	}
	barrier(t, c, p)
}

// MaxJobs=2: the worker grabs one job at a time, and asks for a second while
// the first runs, but not for a third.
func TestScriptMaxJobs(t *testing.T) {
	c, p := scriptConn(t, &gearman.Options{MaxJobs: 2}, true)
	g := newGate("H:1", "H:2", "H:3")
	c.Register("g", g, nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.ExpectPacket(wire.GrabJobUniq)
	barrier(t, c, p) // one grab per free slot, all in flight, no more
	p.Send(wire.JobAssignUniq, "H:1", "g", "", "one")
	p.Send(wire.JobAssignUniq, "H:2", "g", "", "two")
	recv(t, g.started)
	recv(t, g.started)
	barrier(t, c, p) // two jobs run: no grab
	g.release["H:2"] <- nil
	p.ExpectPacket(wire.WorkData)
	p.ExpectPacket(wire.WorkComplete)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:3", "g", "", "three")
	recv(t, g.started)
	barrier(t, c, p)
	g.release["H:1"] <- nil
	p.ExpectPacket(wire.WorkData)
	p.ExpectPacket(wire.WorkComplete)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	g.release["H:3"] <- gearman.ErrJobFailed
	p.ExpectPacket(wire.WorkFail)
	barrier(t, c, p) // asleep: no grab
}

// A server answers a worker's grabs together: the job its first grab got,
// then NO_JOB for the others, in one write (gearmand does). The handler runs
// with the reading parked all the same, the NO_JOBs handled first: nobody
// else need read, as nothing more is expected.
func TestScriptWorkerParksAfterNoJobs(t *testing.T) {
	c, p := scriptConn(t, &gearman.Options{MaxJobs: 3}, true)
	parked := make(chan bool, 1)
	c.Register("f", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
		parked <- c.ReadingParked()
		return b, nil
	}), nil)
	p.ExpectPacket(wire.CanDo)
	for range 3 {
		p.ExpectPacket(wire.GrabJobUniq)
	}
	var b []byte
	for _, pk := range [][][]byte{
		{[]byte("H:1"), []byte("f"), nil, []byte("abc")},
		nil, nil,
	} {
		typ := wire.NoJob
		if pk != nil {
			typ = wire.JobAssignUniq
		}
		var err error
		if b, err = wire.AppendPacket(b, wire.Res, typ, pk...); err != nil {
			t.Fatal(err)
		}
	}
	p.SendRaw(b)
	if !recv(t, parked) {
		t.Error("the handler ran while another goroutine read the connection; want the reading parked")
	}
	p.ExpectPacket(wire.PreSleep)
	if got := p.ExpectPacket(wire.WorkComplete); string(got.Arg(1)) != "abc" {
		t.Fatalf("got %v; want WORK_COMPLETE H:1 abc", got)
	}
	barrier(t, c, p) // asleep: no grab
}

// A payload larger than TaskBuffer streams into a handler that reads it
// slowly. Until the handler has taken all but TaskBuffer bytes of it, the
// connection reads nothing else: the next job waits (head-of-line blocking,
// see Task). Nothing is lost.
func TestScriptWorkerHeadOfLine(t *testing.T) {
	const buf = 4 << 10
	c, p := scriptConn(t, &gearman.Options{MaxJobs: 2, TaskBuffer: buf}, true)
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	started := make(chan string, 2)
	proceed := make(chan struct{})
	c.Register("slow", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		started <- task.Handle()
		if task.Handle() == "H:1" {
			<-proceed
		}
		var got []byte
		b := make([]byte, 100)
		for {
			n, err := task.Read(b)
			got = append(got, b[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		_, err := task.Write([]byte(fmt.Sprint(len(got), bytes.Equal(got, big))))
		return err
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "slow", "", string(big))
	p.Send(wire.JobAssignUniq, "H:2", "slow", "", "x")
	if h := recv(t, started); h != "H:1" {
		t.Fatalf("started %s first", h)
	}
	select {
	case h := <-started:
		t.Fatalf("%s started while the connection was held by H:1's payload", h)
	case <-time.After(50 * time.Millisecond):
	}
	close(proceed)
	if h := recv(t, started); h != "H:2" {
		t.Fatalf("started %s", h)
	}
	// Each job's WORK_DATA and WORK_COMPLETE, and a grab for each slot
	// that frees.
	want := map[string]string{"H:1": fmt.Sprint(len(big), true), "H:2": "1 false"}
	count := map[wire.Type]int{}
	for range 6 {
		got, err := p.NextPacket()
		if err != nil {
			t.Fatal(err)
		}
		count[got.Type]++
		if got.Type == wire.WorkData && want[string(got.Arg(0))] != string(got.Arg(1)) {
			t.Fatalf("got %v; want %q", got, want[string(got.Arg(0))])
		}
	}
	if count[wire.WorkData] != 2 || count[wire.WorkComplete] != 2 || count[wire.GrabJobUniq] != 2 {
		t.Fatalf("got packets %v", count)
	}
	barrier(t, c, p)
}

// Close cancels the context of running handlers, waits for them, and leaves
// no goroutine behind (TestMain checks).
func TestScriptCloseWithHandler(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	g := newGate()
	c.Register("g", g, nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "g", "", "x")
	recv(t, g.payload)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), gearman.ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
	p.ExpectClosedNow()
}
