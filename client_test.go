package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Created is closed once the server has created the job, whether it is
// asked for before, after or never until the task has ended; and when a
// submit is refused, with no handle.
func TestScriptCreated(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)

	// Asked for before the submit: closed by JOB_CREATED.
	early, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	created := early.Created()
	if isClosed(created) {
		t.Fatal("Created closed before the submit")
	}
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}
	p.ExpectPacket(wire.SubmitJob)
	barrier(t, c, p)
	if isClosed(created) {
		t.Fatal("Created closed before JOB_CREATED")
	}
	p.Send(wire.JobCreated, "H:1")
	recv(t, created)
	if h := early.Handle(); h != "H:1" {
		t.Fatalf("handle %q after Created", h)
	}
	if !isClosed(early.Created()) {
		t.Fatal("a later Created is not closed")
	}

	// First asked for once the task has ended: closed.
	late, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:2")
	p.Send(wire.WorkComplete, "H:2", "done")
	if got, err := late.Result(ctx); err != nil || string(got) != "done" {
		t.Fatalf("result %q, %v", got, err)
	}
	if !isClosed(late.Created()) || late.Handle() != "H:2" {
		t.Fatalf("after the end: Created closed %v, handle %q", isClosed(late.Created()), late.Handle())
	}

	// Refused: Created is closed with no handle, and the task is done.
	refused, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	created = refused.Created()
	if err := refused.Close(); err != nil {
		t.Fatal(err)
	}
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.Error, "QUEUE_FULL", "no room")
	recv(t, created)
	if !isClosed(refused.Done()) || refused.Handle() != "" || refused.Err() == nil {
		t.Fatalf("refused: done %v, handle %q, err %v", isClosed(refused.Done()), refused.Handle(), refused.Err())
	}
	p.Send(wire.WorkComplete, "H:1", "")
	if _, err := early.Result(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestScriptJobEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		packets [][]string // type name, then args
		check   func(t *testing.T, err error)
	}{
		{"warning then fail", [][]string{{"WORK_WARNING", "H:1", "kaput"}, {"WORK_FAIL", "H:1"}}, func(t *testing.T, err error) {
			var je *gearman.JobException
			if !errors.As(err, &je) || je.Message != "kaput" || je.Handle != "H:1" {
				t.Fatalf("got %v; want exception kaput", err)
			}
		}},
		{"fail", [][]string{{"WORK_FAIL", "H:1"}}, func(t *testing.T, err error) {
			if !errors.Is(err, gearman.ErrJobFailed) || errors.Is(err, gearman.ErrJobException) {
				t.Fatalf("got %v; want ErrJobFailed", err)
			}
		}},
		{"warning, data, fail", [][]string{{"WORK_WARNING", "H:1", "w"}, {"WORK_DATA", "H:1", "d"}, {"WORK_FAIL", "H:1"}}, func(t *testing.T, err error) {
			if !errors.Is(err, gearman.ErrJobFailed) {
				t.Fatalf("got %v; want ErrJobFailed", err)
			}
		}},
		{"exception", [][]string{{"WORK_EXCEPTION", "H:1", "bad"}}, func(t *testing.T, err error) {
			var je *gearman.JobException
			if !errors.As(err, &je) || je.Message != "bad" || !errors.Is(err, gearman.ErrJobException) {
				t.Fatalf("got %v; want exception bad", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			ctx := testCtx(t)
			task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:1")
			for _, pk := range tc.packets {
				p.Send(typeByName(t, pk[0]), pk[1:]...)
			}
			_, err := task.Result(ctx)
			tc.check(t, err)
			if task.Err() != err {
				t.Fatalf("Err() = %v; Result gave %v", task.Err(), err)
			}
		})
	}
}

// Two submits of one unique id on one connection share a handle; the server
// sends each packet once for each, and each task gets one copy.
func TestScriptSharedHandle(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	job := gearman.Job{Func: "f", Unique: "u"}
	a := submitScripted(t, ctx, c, p, job, "H:1")
	b := submitScripted(t, ctx, c, p, job, "H:1")
	for range 2 {
		p.Send(wire.WorkData, "H:1", "ab")
	}
	for range 2 {
		p.Send(wire.WorkStatus, "H:1", "1", "2")
	}
	for range 2 {
		p.Send(wire.WorkComplete, "H:1", "cd")
	}
	for _, task := range []*gearman.Task{a, b} {
		if got, err := task.Result(ctx); err != nil || string(got) != "abcd" {
			t.Fatalf("result %q, %v; want abcd", got, err)
		}
		if s := <-task.Status(); s != (gearman.Status{Numerator: 1, Denominator: 2}) {
			t.Fatalf("status %v", s)
		}
	}
	barrier(t, c, p)
}

// Regression: abandoning one of two tasks on a shared handle gave the other
// task both copies of every later packet.
func TestScriptSharedHandleAbandon(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	job := gearman.Job{Func: "f", Unique: "u"}
	actx, cancel := context.WithCancel(ctx)
	a := submitScripted(t, actx, c, p, job, "H:1")
	b := submitScripted(t, ctx, c, p, job, "H:1")
	cancel()
	<-a.Done()
	for range 2 {
		p.Send(wire.WorkData, "H:1", "ab")
	}
	for range 2 {
		p.Send(wire.WorkComplete, "H:1", "cd")
	}
	if got, err := b.Result(ctx); err != nil || string(got) != "abcd" {
		t.Fatalf("result %q, %v; want abcd", got, err)
	}
	if err := a.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned task: %v", err)
	}
	// Then a third task on the same handle, which the server creates anew.
	d := submitScripted(t, ctx, c, p, job, "H:1")
	p.Send(wire.WorkComplete, "H:1", "e")
	if got, err := d.Result(ctx); err != nil || string(got) != "e" {
		t.Fatalf("result %q, %v; want e", got, err)
	}
}

// Regression: a task abandoned before its JOB_CREATED arrived was left out
// of the route, so the other task on the handle got its copies.
func TestScriptSharedHandleAbandonBeforeCreated(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	job := gearman.Job{Func: "f", Unique: "u"}
	actx, cancel := context.WithCancel(ctx)
	ach := submitAsync(actx, c, job)
	p.ExpectPacket(wire.SubmitJob)
	cancel()
	if s := <-ach; !errors.Is(s.err, context.Canceled) {
		t.Fatalf("abandoned submit: %v, %v", s.task, s.err)
	}
	bch := submitAsync(ctx, c, job)
	p.ExpectPacket(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:1") // for the abandoned task
	p.Send(wire.JobCreated, "H:1")
	b := <-bch
	if b.err != nil {
		t.Fatal(b.err)
	}
	for range 2 {
		p.Send(wire.WorkData, "H:1", "ab")
	}
	for range 2 {
		p.Send(wire.WorkComplete, "H:1", "cd")
	}
	if got, err := b.task.Result(ctx); err != nil || string(got) != "abcd" {
		t.Fatalf("result %q, %v; want abcd", got, err)
	}
}

func TestScriptOptionRefused(t *testing.T) {
	c, p := scriptConn(t, nil, false)
	if c.Exceptions() {
		t.Fatal("Exceptions() true after UNKNOWN_OPTION")
	}
	barrier(t, c, p)
	task := submitScripted(t, testCtx(t), c, p, gearman.Job{Func: "f"}, "H:1")
	p.Send(wire.WorkComplete, "H:1", "x")
	if got, err := task.Result(testCtx(t)); err != nil || string(got) != "x" {
		t.Fatalf("result %q, %v", got, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Option(testCtx(t), "other") }()
	p.ExpectPacket(wire.OptionReq)
	p.Send(wire.Error, "UNKNOWN_OPTION", "Server does not recognize given option")
	if err := recv(t, done); !errors.Is(err, gearman.ErrNotSupported) {
		t.Fatal(err)
	}
	barrier(t, c, p)
}

// An ERROR answers the oldest request: that submit fails with a
// *ServerError, and the submits around it are created.
func TestScriptSubmitError(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	chans := map[string]<-chan submitted{}
	for _, d := range []string{"a", "b", "c"} {
		chans[d] = submitAsync(ctx, c, gearman.Job{Func: "f", Data: []byte(d)})
	}
	var order []string
	for range 3 {
		order = append(order, string(p.ExpectPacket(wire.SubmitJob).Arg(2)))
	}
	p.Send(wire.JobCreated, "H:1")
	p.Send(wire.Error, "QUEUE_ERROR", "Job queue is full")
	p.Send(wire.JobCreated, "H:3")
	for i, d := range order {
		s := <-chans[d]
		if i == 1 {
			var se *gearman.ServerError
			if !errors.As(s.err, &se) || se.Code != "QUEUE_ERROR" || s.task != nil {
				t.Fatalf("submit %s: %v, %v; want QUEUE_ERROR", d, s.task, s.err)
			}
			continue
		}
		if s.err != nil || s.task.Handle() != fmt.Sprintf("H:%d", i+1) {
			t.Fatalf("submit %s: %v", d, s.err)
		}
	}
	barrier(t, c, p)
}

// A client task whose reader is slow loses nothing: the connection waits for
// it.
func TestScriptSlowClientReader(t *testing.T) {
	c, p := scriptConn(t, &gearman.Options{TaskBuffer: 1 << 10}, true)
	ctx := testCtx(t)
	task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:1")
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		var out []byte
		b := make([]byte, 37)
		for {
			n, err := task.Read(b)
			out = append(out, b[:n]...)
			if err != nil {
				break
			}
		}
		got <- out
	}()
	for i := range 200 {
		chunk := fmt.Sprintf("%04d:%s|", i, strings.Repeat("z", i%50))
		want.WriteString(chunk)
		p.Send(wire.WorkData, "H:1", chunk)
	}
	p.Send(wire.WorkComplete, "H:1", "end")
	want.WriteString("end")
	if g := recv(t, got); !bytes.Equal(g, want.Bytes()) {
		t.Fatalf("got %d bytes; want %d", len(g), want.Len())
	}
	if err := task.Err(); err != nil {
		t.Fatal(err)
	}
}

// Cancelling a task while its result is arriving (the connection held on
// its full buffer) frees the connection; later packets for the handle are
// dropped.
func TestScriptCancelWhileReceiving(t *testing.T) {
	c, p := scriptConn(t, &gearman.Options{TaskBuffer: 1 << 10}, true)
	ctx := testCtx(t)
	actx, cancel := context.WithCancel(ctx)
	a := submitScripted(t, actx, c, p, gearman.Job{Func: "f"}, "H:1")
	p.Send(wire.WorkData, "H:1", strings.Repeat("a", 64<<10))
	b := make([]byte, 10)
	if n, err := io.ReadFull(a, b); err != nil || n != 10 {
		t.Fatalf("read %d, %v", n, err)
	}
	cancel()
	if _, err := a.Result(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled task: %v", err)
	}
	p.Send(wire.WorkData, "H:1", strings.Repeat("a", 64<<10))
	p.Send(wire.WorkComplete, "H:1", "x")
	d := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:2")
	p.Send(wire.WorkComplete, "H:2", "ok")
	if got, err := d.Result(ctx); err != nil || string(got) != "ok" {
		t.Fatalf("result %q, %v", got, err)
	}
	if _, err := a.Read(b); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

// Regression: Open stored the context watch's stop function after starting
// the watch, which, for a context already ended, read it at once: a data
// race (go test -race).
func TestScriptOpenEndedContext(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		task, err := c.Open(ctx, gearman.Job{Func: "f"})
		if err != nil {
			t.Fatal(err)
		}
		<-task.Done()
		if err := task.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err() = %v", err)
		}
	}
	barrier(t, c, p)
}

// Regression: Close on a task whose context had ended still submitted it.
func TestScriptCloseAfterAbandon(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx, cancel := context.WithCancel(testCtx(t))
	task, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	task.Write([]byte("payload"))
	cancel()
	<-task.Done()
	if err := task.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v; want context.Canceled", err)
	}
	barrier(t, c, p) // fails on a SUBMIT_JOB
}

// Regression: Write appended to the caller's Job.Data in place, over the
// bytes past its length.
func TestScriptOpenKeepsCallerData(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	data := make([]byte, 3, 16)
	copy(data, "abc")
	task, err := c.Open(testCtx(t), gearman.Job{Func: "f", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	task.Write([]byte("xyz"))
	if got := data[:6]; string(got) != "abc\x00\x00\x00" {
		t.Fatalf("caller's array now %q", got)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.ExpectPacket(wire.SubmitJob); string(got.Arg(2)) != "abcxyz" {
		t.Fatalf("got %v; want payload abcxyz", got)
	}
}

// A Result whose context ends first returns the context's error and keeps
// what had arrived: a later Result returns the whole result. Also for a
// result larger than the task's buffer, which Result reads straight into
// one buffer (and which holds the connection back while nobody reads it,
// so no barrier is made while it arrives).
func TestScriptResultAgainAfterTimeout(t *testing.T) {
	for _, size := range []int{5, 600 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			ctx := testCtx(t)
			task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:1")
			first := strings.Repeat("a", size)
			second := strings.Repeat("b", size)
			p.Send(wire.WorkData, "H:1", first)
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if got, err := task.Result(short); !errors.Is(err, context.DeadlineExceeded) || got != nil {
				t.Fatalf("Result with a short context: %d bytes, %v; want nil, DeadlineExceeded", len(got), err)
			}
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				data, err := task.Result(ctx)
				done <- result{data, err}
			}()
			p.Send(wire.WorkComplete, "H:1", second)
			r := recv(t, done)
			if r.err != nil || string(r.data) != first+second {
				t.Fatalf("Result after: %d bytes, %v; want the %d bytes of both packets", len(r.data), r.err, 2*size)
			}
		})
	}
}

// io.Copy from a task (Task.WriteTo) writes what has arrived in one piece:
// a worker's io.Copy(task, task) of a payload that came whole sends it back
// as one WORK_DATA packet, not in io.Copy's 32 KiB pieces. A client's
// io.Copy from a failed job returns the job's error.
func TestScriptCopyFromTask(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	c.Register("copy", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		_, err := io.Copy(task, task)
		return err
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	payload := strings.Repeat("p", 200<<10)
	p.Send(wire.JobAssignUniq, "H:1", "copy", "", payload)
	got := p.ExpectPacket(wire.WorkData)
	if string(got.Arg(1)) != payload {
		t.Fatalf("first WORK_DATA holds %d bytes; want the whole payload of %d", len(got.Arg(1)), len(payload))
	}
	if got := p.ExpectPacket(wire.WorkComplete); len(got.Arg(1)) != 0 {
		t.Fatalf("WORK_COMPLETE with %d bytes; want none", len(got.Arg(1)))
	}
	p.ExpectPacket(wire.GrabJobUniq)

	ctx := testCtx(t)
	task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:2")
	p.Send(wire.WorkData, "H:2", "part")
	p.Send(wire.WorkFail, "H:2")
	var out bytes.Buffer
	n, err := io.Copy(&out, task)
	if !errors.Is(err, gearman.ErrJobFailed) || n != 4 || out.String() != "part" {
		t.Fatalf("io.Copy from a failed job: %d bytes %q, %v; want 4 bytes \"part\", ErrJobFailed", n, out.String(), err)
	}
}

// heldConn holds the first Write after hold until release is closed, and
// counts the bytes read after hold.
type heldConn struct {
	net.Conn
	mu      sync.Mutex
	held    bool
	entered chan struct{} // closed when the held Write starts
	release chan struct{}
	read    atomic.Int64
}

func (h *heldConn) hold() {
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
	h.read.Store(0)
}

func (h *heldConn) Write(b []byte) (int, error) {
	h.mu.Lock()
	held := h.held
	h.held = false
	h.mu.Unlock()
	if held {
		close(h.entered)
		<-h.release
	}
	return h.Conn.Write(b)
}

func (h *heldConn) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	h.read.Add(int64(n))
	return n, err
}

// Do with a declared Size sends its whole submit before it returns from
// opening the task. A result larger than TaskBuffer that comes back while
// that write is still under way must be collected whole: nobody reads a Do
// task, so a read loop that waited for a reader would hang the connection.
func TestScriptSizedDoEarlyResult(t *testing.T) {
	hc := &heldConn{entered: make(chan struct{}), release: make(chan struct{})}
	var nd net.Dialer
	opts := &gearman.Options{TaskBuffer: 1 << 10, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := nd.DialContext(ctx, network, addr)
		hc.Conn = nc
		return hc, err
	}}
	c, p := scriptConn(t, opts, true)
	hc.hold()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	ctx := testCtx(t)
	go func() {
		data, err := c.Do(ctx, gearman.Job{Func: "f", Data: []byte("0123456789"), Size: 10})
		done <- result{data, err}
	}()
	recv(t, hc.entered) // the submit is pending, its write held
	big := strings.Repeat("x", 4<<10)
	p.Send(wire.JobCreated, "H:1")
	p.Send(wire.WorkComplete, "H:1", big)
	want := int64(2*12 + len("H:1") + len("H:1\x00") + len(big))
	for deadline := time.Now().Add(10 * time.Second); hc.read.Load() < want; {
		if time.Now().After(deadline) {
			t.Fatalf("the connection read %d of %d bytes", hc.read.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	close(hc.release)
	p.ExpectPacket(wire.SubmitJob)
	r := recv(t, done)
	if r.err != nil || string(r.data) != big {
		t.Fatalf("Do: %d bytes, %v; want %d bytes", len(r.data), r.err, len(big))
	}
}
