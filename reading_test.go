package gearman_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// Tests of the reading a Do's caller does itself (see Conn): once the read
// loop has delivered a Do's result and nothing more is expected, nobody reads
// until the next Do, whose caller reads its own result.

// countedConn counts the bytes read from the connection, and fails its
// writes once failWrites is set.
type countedConn struct {
	net.Conn
	read       atomic.Int64
	failWrites atomic.Bool
}

func (c *countedConn) Write(b []byte) (int, error) {
	if c.failWrites.Load() {
		return 0, syscall.ECONNRESET
	}
	return c.Conn.Write(b)
}

// SyscallConn gives the socket's raw connection, as a *net.TCPConn does, so
// that the connection may let its callers read (see gearman.Conn).
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// callReadConn dials a scripted server through a countedConn.
func callReadConn(t *testing.T) (*gearman.Conn, *wiretest.Peer, *countedConn) {
	t.Helper()
	return callReadConnOpts(t, gearman.Options{})
}

// callReadConnOpts is callReadConn with options.
func callReadConnOpts(t *testing.T, opts gearman.Options) (*gearman.Conn, *wiretest.Peer, *countedConn) {
	t.Helper()
	cc := make(chan *countedConn, 1)
	opts.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &countedConn{Conn: nc}
		cc <- c
		return c, nil
	}
	defer gearman.AcceptWrappedSockets()()
	c, p := scriptConn(t, &opts, false)
	return c, p, <-cc
}

// parkedConn is callReadConnOpts after a first Do, which leaves the
// connection unread.
func parkedConn(t *testing.T, opts gearman.Options) (*gearman.Conn, *wiretest.Peer, *countedConn) {
	t.Helper()
	c, p, counted := callReadConnOpts(t, opts)
	doScripted(t, c, p, "H:1", "one")
	waitFor(t, "the reading parks", c.ReadingParked)
	return c, p, counted
}

// resultReading starts task.Result(ctx) and waits until its caller reads.
func resultReading(t *testing.T, ctx context.Context, c *gearman.Conn, task *gearman.Task) <-chan doResult {
	t.Helper()
	rc := make(chan doResult, 1)
	go func() {
		data, err := task.Result(ctx)
		rc <- doResult{data, err}
	}()
	waitFor(t, "Result's caller reads", c.CallerReading)
	return rc
}

// doReading starts a Do of data on c, left unread, and waits until the
// peer has its submit and the Do's caller reads.
func doReading(t *testing.T, ctx context.Context, c *gearman.Conn, p *wiretest.Peer, data string) <-chan doResult {
	t.Helper()
	ch := doAsync(ctx, c, gearman.Job{Func: "f", Data: []byte(data)})
	p.ExpectPacket(wire.SubmitJob)
	waitFor(t, "the caller reads", c.CallerReading)
	return ch
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wiretest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

type doResult struct {
	data []byte
	err  error
}

// doAsync starts c.Do and returns where its outcome goes.
func doAsync(ctx context.Context, c *gearman.Conn, job gearman.Job) <-chan doResult {
	ch := make(chan doResult, 1)
	go func() {
		data, err := c.Do(ctx, job)
		ch <- doResult{data, err}
	}()
	return ch
}

// doScripted runs a Do that the peer answers with result as handle h.
func doScripted(t *testing.T, c *gearman.Conn, p *wiretest.Peer, h, result string) {
	t.Helper()
	ch := doAsync(testCtx(t), c, gearman.Job{Func: "f", Data: []byte(h)})
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, h)
	p.Send(wire.WorkComplete, h, result)
	if r := recv(t, ch); r.err != nil || string(r.data) != result {
		t.Fatalf("Do %s = %q, %v; want %q", h, r.data, r.err, result)
	}
}

// After a Do, the connection is left unread; the next Do's caller reads its
// own result and leaves it unread again. A result larger than the read
// buffer is handed to a reader goroutine, and so is any other request's
// reply (the barrier's echo).
func TestScriptDoReadsItsOwnResult(t *testing.T) {
	c, p, _ := parkedConn(t, gearman.Options{})

	ch := doReading(t, testCtx(t), c, p, "two")
	p.Send(wire.JobCreated, "H:2")
	p.Send(wire.WorkComplete, "H:2", "two")
	if r := recv(t, ch); r.err != nil || string(r.data) != "two" {
		t.Fatalf("Do = %q, %v", r.data, r.err)
	}
	waitFor(t, "the caller parks the reading", c.ReadingParked)

	big := strings.Repeat("b", 100<<10) // more than the read buffer
	ch = doReading(t, testCtx(t), c, p, "three")
	p.Send(wire.JobCreated, "H:3")
	p.Send(wire.WorkComplete, "H:3", big)
	if r := recv(t, ch); r.err != nil || string(r.data) != big {
		t.Fatalf("Do = %d bytes, %v; want %d", len(r.data), r.err, len(big))
	}
	barrier(t, c, p)
	doScripted(t, c, p, "H:4", "four")
}

// A Do whose context ends while its caller reads returns at once, at any
// byte of a packet; the reading goes on elsewhere from that byte, and the
// connection stays good.
func TestScriptDoCancelledWhileReading(t *testing.T) {
	result := packet(t, wire.WorkComplete, "H:2", "two")
	for _, split := range []int{0, 5, wire.HeaderSize, len(result) - 1} {
		c, p, counted := parkedConn(t, gearman.Options{})

		ctx, cancel := context.WithCancel(testCtx(t))
		ch := doReading(t, ctx, c, p, "two")
		before := counted.read.Load()
		p.Send(wire.JobCreated, "H:2")
		p.SendRaw(result[:split])
		sent := before + int64(wire.HeaderSize+len("H:2")) + int64(split)
		waitFor(t, "the caller has read what was sent", func() bool { return counted.read.Load() == sent })
		cancel()
		if r := recv(t, ch); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("split %d: Do = %q, %v; want context.Canceled", split, r.data, r.err)
		}
		p.SendRaw(result[split:])
		barrier(t, c, p)
		doScripted(t, c, p, "H:3", "three")
		if err := c.Err(); err != nil {
			t.Fatalf("split %d: connection ended: %v", split, err)
		}
	}
}

// Close ends a Do whose caller reads, at once.
func TestScriptCloseWhileDoReads(t *testing.T) {
	c, p, _ := parkedConn(t, gearman.Options{})
	ch := doReading(t, context.Background(), c, p, "two")
	p.Send(wire.JobCreated, "H:2")
	c.Close()
	if r := recv(t, ch); !errors.Is(r.err, gearman.ErrClosed) {
		t.Fatalf("Do = %q, %v; want ErrClosed", r.data, r.err)
	}
}

// A connection left unread after a Do still learns that the server went
// away, and so does a Do whose caller reads.
func TestScriptUnreadConnLearnsLoss(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		c, p, _ := parkedConn(t, gearman.Options{})
		p.Close()
		wantConnLost(t, c)
	})
	t.Run("reading", func(t *testing.T) {
		c, p, _ := parkedConn(t, gearman.Options{})
		ch := doReading(t, context.Background(), c, p, "two")
		p.SendRaw(packet(t, wire.JobCreated, "H:2")[:7])
		p.Close()
		if r := recv(t, ch); !errors.Is(r.err, gearman.ErrConnLost) {
			t.Fatalf("Do = %q, %v; want ErrConnLost", r.data, r.err)
		}
		wantConnLost(t, c)
	})
}

// packet encodes a response packet.
func packet(t *testing.T, typ wire.Type, args ...string) []byte {
	t.Helper()
	var bs [][]byte
	for _, a := range args {
		bs = append(bs, []byte(a))
	}
	b, err := wire.AppendPacket(nil, wire.Res, typ, bs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Close returns at once on a connection left unread, without waiting for
// the check of long parks (set to an hour here).
func TestScriptCloseUnreadConn(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, _, _ := parkedConn(t, gearman.Options{})
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := recv(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A connection left unread after a Do that then registers a function reads
// again at once for its grabs, without waiting for the check of long parks
// (set to an hour here); and a Do then runs as before, read by the reader.
func TestScriptRegisterOnUnreadConn(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p, _ := parkedConn(t, gearman.Options{})
	ran := make(chan string, 1)
	c.Register("work", gearman.BytesHandler(func(ctx context.Context, in []byte) ([]byte, error) {
		ran <- string(in)
		return in, nil
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:w", "work", "", "payload")
	if got := recv(t, ran); got != "payload" {
		t.Fatalf("handler got %q", got)
	}
	p.ExpectPacket(wire.WorkComplete)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.ExpectPacket(wire.PreSleep)
	doScripted(t, c, p, "H:2", "two")
	if c.CallerReading() || c.ReadingParked() {
		t.Fatal("a connection that serves a function is left to a Do's caller")
	}
}

// A Do whose caller reads does not take a packet that would make it wait
// for another task's reader (a result larger than that task's buffer): a
// reader goroutine takes it, and the Do still returns when its context ends.
func TestScriptDoLeavesFullTaskToReader(t *testing.T) {
	c, p, counted := parkedConn(t, gearman.Options{TaskBuffer: 1024})

	ctx, cancel := context.WithCancel(testCtx(t))
	ch := doReading(t, ctx, c, p, "two")
	p.Send(wire.JobCreated, "H:2")
	slow := submitScripted(t, testCtx(t), c, p, gearman.Job{Func: "slow"}, "H:s")
	big := strings.Repeat("s", 4000)
	before := counted.read.Load()
	p.Send(wire.WorkData, "H:s", big)
	sent := before + int64(wire.HeaderSize+len("H:s")+1+len(big))
	waitFor(t, "the connection has read the data", func() bool { return counted.read.Load() == sent })
	waitFor(t, "the caller hands the reading on", func() bool { return !c.CallerReading() })
	cancel()
	if r := recv(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Do = %q, %v; want context.Canceled", r.data, r.err)
	}
	p.Send(wire.WorkComplete, "H:2", "two")
	p.Send(wire.WorkComplete, "H:s", "end")
	got, err := slow.Result(testCtx(t))
	if err != nil || string(got) != big+"end" {
		t.Fatalf("slow task: %d bytes, %v; want %d", len(got), err, len(big)+3)
	}
	barrier(t, c, p)
}

// submitParked submits a job on a connection whose reading is parked, so
// that Submit's caller reads until the job is created and leaves the
// reading parked for its result.
func submitParked(t *testing.T, c *gearman.Conn, p *wiretest.Peer, h string) *gearman.Task {
	t.Helper()
	waitFor(t, "the reading parks", c.ReadingParked)
	ch := submitAsync(testCtx(t), c, gearman.Job{Func: "f", Data: []byte(h)})
	p.ExpectPacket(wire.SubmitJob)
	waitFor(t, "Submit's caller reads", c.CallerReading)
	p.Send(wire.JobCreated, h)
	s := recv(t, ch)
	if s.err != nil {
		t.Fatalf("Submit: %v", s.err)
	}
	if !c.ReadingParked() {
		t.Fatal("Submit did not leave the reading parked for the result")
	}
	return s.task
}

// Submit's caller reads until the job is created and leaves the rest to
// Result's caller, who reads the result; a Result whose context ends hands
// the reading on, and a later Result still gets the result.
func TestScriptSubmitAndResultRead(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p, _ := callReadConn(t)
	doScripted(t, c, p, "H:1", "one")

	task := submitParked(t, c, p, "H:2")
	rc := resultReading(t, testCtx(t), c, task)
	p.Send(wire.WorkComplete, "H:2", "two")
	if r := recv(t, rc); r.err != nil || string(r.data) != "two" {
		t.Fatalf("Result = %q, %v", r.data, r.err)
	}

	task = submitParked(t, c, p, "H:3")
	ctx, cancel := context.WithCancel(testCtx(t))
	rc = resultReading(t, ctx, c, task)
	cancel()
	if r := recv(t, rc); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Result = %q, %v; want context.Canceled", r.data, r.err)
	}
	p.Send(wire.WorkComplete, "H:3", "three")
	if data, err := task.Result(testCtx(t)); err != nil || string(data) != "three" {
		t.Fatalf("Result again = %q, %v", data, err)
	}
	barrier(t, c, p)
}

// A task whose result the connection leaves unread for Result gets a
// reader at once when its caller waits some other way (the check of long
// parks is set to an hour here): on Done, by reading it, on Status, on
// Warnings; and so does any other request on the connection.
func TestScriptSubmitOtherWaits(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	waits := map[string]func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string){
		"Done": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			done := task.Done()
			p.Send(wire.WorkComplete, h, "end")
			recv(t, done)
		},
		"Read": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			p.Send(wire.WorkComplete, h, "end")
			if b, err := io.ReadAll(task); err != nil || string(b) != "end" {
				t.Fatalf("read %q, %v", b, err)
			}
		},
		"WriteTo": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			p.Send(wire.WorkComplete, h, "end")
			var b strings.Builder
			if _, err := task.WriteTo(&b); err != nil || b.String() != "end" {
				t.Fatalf("WriteTo gave %q, %v", b.String(), err)
			}
		},
		"Status": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			st := task.Status()
			p.Send(wire.WorkStatus, h, "1", "2")
			if s := recv(t, st); s.Numerator != 1 || s.Denominator != 2 {
				t.Fatalf("status %+v", s)
			}
			p.Send(wire.WorkComplete, h, "end")
		},
		"Warnings": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			w := task.Warnings()
			p.Send(wire.WorkWarning, h, "careful")
			if got := recv(t, w); string(got) != "careful" {
				t.Fatalf("warning %q", got)
			}
			p.Send(wire.WorkComplete, h, "end")
		},
		"another request": func(t *testing.T, c *gearman.Conn, task *gearman.Task, p *wiretest.Peer, h string) {
			barrier(t, c, p)
			p.Send(wire.WorkComplete, h, "end")
		},
	}
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			c, p, _ := callReadConn(t)
			doScripted(t, c, p, "H:1", "one")
			task := submitParked(t, c, p, "H:2")
			wait(t, c, task, p, "H:2")
			doScripted(t, c, p, "H:3", "three")
		})
	}
}

// A Do or Submit on a connection nobody reads, whose server has closed it
// meanwhile, finds the end before it sends: it fails safe to retry, and
// the connection has ended (the check of long parks is set to an hour
// here, so that only the caller can have seen the end).
func TestScriptSubmitOnClosedUnreadConn(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	for _, name := range []string{"Do", "Submit"} {
		t.Run(name, func(t *testing.T) {
			c, p, _ := parkedConn(t, gearman.Options{})
			p.Close()
			time.Sleep(10 * time.Millisecond) // the end reaches the socket
			var err error
			if name == "Do" {
				_, err = c.Do(testCtx(t), gearman.Job{Func: "f", Data: []byte("two")})
			} else {
				_, err = c.Submit(testCtx(t), gearman.Job{Func: "f", Data: []byte("two")})
			}
			if !errors.Is(err, gearman.ErrConnLost) || !gearman.SafeToRetry(err) {
				t.Fatalf("%s = %v; want ErrConnLost, safe to retry", name, err)
			}
			wantConnLost(t, c)
		})
	}
}

// A caller that takes the reading first handles what came while nobody
// read: a result for another task, whole, or handed to a reader goroutine
// when it is larger than the read buffer.
func TestScriptTakeReadingWithPending(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	for _, size := range []int{3, 100 << 10} {
		c, p, _ := callReadConn(t)
		doScripted(t, c, p, "H:1", "one")
		task := submitParked(t, c, p, "H:2")
		result := strings.Repeat("r", size)
		p.Send(wire.WorkComplete, "H:2", result)
		time.Sleep(5 * time.Millisecond) // the result reaches the socket, unread
		doScripted(t, c, p, "H:3", "three")
		if got, err := task.Result(testCtx(t)); err != nil || string(got) != result {
			t.Fatalf("size %d: Result = %d bytes, %v", size, len(got), err)
		}
		barrier(t, c, p)
	}
}

// While another call waits elsewhere in the process, a Do's caller does not
// read for itself: with several callers waiting, the read loops serve them
// (see gearman.Conn).
func TestScriptNoCallerReadsWhenNotAlone(t *testing.T) {
	a, pa, _ := callReadConn(t)
	b, pb, _ := callReadConn(t)
	doScripted(t, b, pb, "H:1", "one") // b may now be left unread
	ch := doAsync(testCtx(t), a, gearman.Job{Func: "f", Data: []byte("waits")})
	pa.ExpectPacket(wire.SubmitJob)
	pa.Send(wire.JobCreated, "H:a")
	barrier(t, a, pa) // the Do on a waits for its result

	chb := doAsync(testCtx(t), b, gearman.Job{Func: "f", Data: []byte("two")})
	pb.ExpectPacket(wire.SubmitJob) // sent: the Do has decided who reads
	if b.CallerReading() {
		t.Fatal("a Do's caller reads for itself while another Do waits")
	}
	pb.Send(wire.JobCreated, "H:2")
	pb.Send(wire.WorkComplete, "H:2", "two")
	if r := recv(t, chb); r.err != nil || string(r.data) != "two" {
		t.Fatalf("Do on b = %q, %v", r.data, r.err)
	}
	pa.Send(wire.WorkComplete, "H:a", "done")
	if r := recv(t, ch); r.err != nil || string(r.data) != "done" {
		t.Fatalf("Do on a = %q, %v", r.data, r.err)
	}
}

// A Do or Submit whose submit fails to be written after its caller took the
// reading hands it on: the connection ends, and Close returns.
func TestScriptWriteFailsAfterTakingReading(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	for _, name := range []string{"Do", "Submit"} {
		t.Run(name, func(t *testing.T) {
			c, _, counted := parkedConn(t, gearman.Options{})
			counted.failWrites.Store(true)
			var err error
			if name == "Do" {
				_, err = c.Do(testCtx(t), gearman.Job{Func: "f", Data: []byte("two")})
			} else {
				_, err = c.Submit(testCtx(t), gearman.Job{Func: "f", Data: []byte("two")})
			}
			if !errors.Is(err, gearman.ErrConnLost) {
				t.Fatalf("%s = %v; want ErrConnLost", name, err)
			}
			closed := make(chan error, 1)
			go func() { closed <- c.Close() }()
			recv(t, closed)
		})
	}
}

// Two Submits of one unique id share a handle: the reading is left for
// neither, and each task's Result gets its result at once (the check of
// long parks is set to an hour here).
func TestScriptSubmitSharedHandleResults(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p, _ := parkedConn(t, gearman.Options{})
	job := gearman.Job{Func: "f", Unique: "u", Data: []byte("x")}
	ch := submitAsync(testCtx(t), c, job)
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:u")
	t1 := recv(t, ch)
	ch = submitAsync(testCtx(t), c, job)
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:u")
	t2 := recv(t, ch)
	if t1.err != nil || t2.err != nil {
		t.Fatalf("submits: %v, %v", t1.err, t2.err)
	}
	p.Send(wire.WorkComplete, "H:u", "same")
	p.Send(wire.WorkComplete, "H:u", "same")
	for _, sub := range []submitted{t1, t2} { // the first, alone, then the other
		if data, err := sub.task.Result(testCtx(t)); err != nil || string(data) != "same" {
			t.Fatalf("Result = %q, %v", data, err)
		}
	}
}

// A Result whose context ends while its caller reads does not leave the
// reading parked for the task: another goroutine waiting on Done gets the
// end at once (the check of long parks is set to an hour here).
func TestScriptResultTimeoutLeavesReader(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p, _ := callReadConn(t)
	doScripted(t, c, p, "H:1", "one")
	task := submitParked(t, c, p, "H:2")
	ctx, cancel := context.WithCancel(testCtx(t))
	rc := resultReading(t, ctx, c, task)
	done := task.Done()
	cancel()
	if r := recv(t, rc); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Result = %q, %v; want context.Canceled", r.data, r.err)
	}
	p.Send(wire.WorkComplete, "H:2", "two")
	recv(t, done)
}

// When the context a task was submitted with ends while Result, with that
// same context, reads for the task, Result returns at once.
func TestScriptSubmitContextEndsWhileResultReads(t *testing.T) {
	defer gearman.SetParkCheck(time.Hour)()
	c, p, _ := parkedConn(t, gearman.Options{})
	ctx, cancel := context.WithCancel(testCtx(t))
	ch := submitAsync(ctx, c, gearman.Job{Func: "f", Data: []byte("two")})
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:2")
	s := recv(t, ch)
	if s.err != nil {
		t.Fatal(s.err)
	}
	rc := resultReading(t, ctx, c, s.task)
	cancel()
	if r := recv(t, rc); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Result = %q, %v; want context.Canceled", r.data, r.err)
	}
	p.Send(wire.WorkComplete, "H:2", "two")
	barrier(t, c, p)
	doScripted(t, c, p, "H:3", "three")
}
