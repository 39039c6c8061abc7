package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/scripted"
	"github.com/seed749d6d6d/gearman/wire"
)

// Tests against a scripted server (internal/scripted): the exact packets the
// connection sends, and what it does with packets a correct server never
// sends. Events are ordered by the script and by barrier, never by sleeping.

// scriptConn dials a scripted server and answers the negotiation: OPTION_RES
// when exceptions is true, else ERROR UNKNOWN_OPTION.
func scriptConn(t *testing.T, opts *gearman.Options, exceptions bool) (*gearman.Conn, *scripted.Peer) {
	t.Helper()
	l := scripted.Listen(t)
	type dialed struct {
		c   *gearman.Conn
		err error
	}
	ch := make(chan dialed, 1)
	ctx := testCtx(t)
	go func() {
		c, err := gearman.Dial(ctx, l.Addr(), opts)
		ch <- dialed{c, err}
	}()
	p := l.Accept()
	if opts != nil && opts.ClientID != "" {
		p.Expect(wire.SetClientID)
	}
	if got := p.Expect(wire.OptionReq); string(got.Arg(0)) != "exceptions" {
		t.Fatalf("got %v; want OPTION_REQ exceptions", got)
	}
	if exceptions {
		p.Send(wire.OptionRes, "exceptions")
	} else {
		p.Send(wire.Error, "UNKNOWN_OPTION", "Server does not recognize given option")
	}
	d := <-ch
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	t.Cleanup(func() { d.c.Close() })
	return d.c, p
}

// barrier makes a round trip (ECHO_REQ, ECHO_RES) through the connection.
// When it returns, the connection has handled every packet the peer sent
// before, and the peer has read every packet the connection queued before:
// had it queued one more, Expect(ECHO_REQ) would have failed on it.
func barrier(t *testing.T, c *gearman.Conn, p *scripted.Peer) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		got, err := c.Echo(context.Background(), []byte("barrier"))
		if err == nil && string(got) != "barrier" {
			err = fmt.Errorf("echo gave %q", got)
		}
		done <- err
	}()
	p.Expect(wire.EchoReq)
	p.Send(wire.EchoRes, "barrier")
	if err := <-done; err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

type submitted struct {
	task *gearman.Task
	err  error
}

// submitAsync starts c.Submit(ctx, job) and returns where its outcome goes.
func submitAsync(ctx context.Context, c *gearman.Conn, job gearman.Job) <-chan submitted {
	ch := make(chan submitted, 1)
	go func() {
		task, err := c.Submit(ctx, job)
		ch <- submitted{task, err}
	}()
	return ch
}

// submitScripted submits job and creates it as handle h on the peer.
func submitScripted(t *testing.T, ctx context.Context, c *gearman.Conn, p *scripted.Peer, job gearman.Job, h string) *gearman.Task {
	t.Helper()
	ch := submitAsync(ctx, c, job)
	p.Expect(wire.SubmitJob)
	p.Send(wire.JobCreated, h)
	s := <-ch
	if s.err != nil {
		t.Fatalf("submit: %v", s.err)
	}
	if s.task.Handle() != h {
		t.Fatalf("handle %q; want %q", s.task.Handle(), h)
	}
	return s.task
}

func wantConnLost(t *testing.T, c *gearman.Conn) error {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(scripted.DefaultTimeout):
		t.Fatal("connection did not fail")
	}
	err := c.Err()
	if !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Err() = %v; want ErrConnLost", err)
	}
	return err
}

func TestScriptGrabFallback(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	if err := c.Register("rev", reverseHandler, nil); err != nil {
		t.Fatal(err)
	}
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.Error, "ERR_UNKNOWN_COMMAND", "Unknown+command")
	p.Expect(wire.GrabJob)
	p.Send(wire.NoJob)
	p.Expect(wire.PreSleep)
	p.Send(wire.Noop)
	p.Expect(wire.GrabJob) // the fallback sticks
	p.Send(wire.JobAssign, "H:1", "rev", "abc")
	if got := p.Expect(wire.WorkComplete); string(got.Arg(0)) != "H:1" || string(got.Arg(1)) != "cba" {
		t.Fatalf("got %v; want WORK_COMPLETE H:1 cba", got)
	}
	p.Expect(wire.GrabJob)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
}

// A NOOP that comes while a grab is unanswered (abraxas sends them) must not
// draw a second grab; after NO_JOB the worker sleeps, and a NOOP wakes it.
func TestScriptNoopDuringGrab(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	c.Register("rev", reverseHandler, nil)
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.Noop)
	p.Send(wire.Noop)
	barrier(t, c, p) // fails on a second GRAB_JOB_UNIQ
	p.Send(wire.NoJob)
	p.Expect(wire.PreSleep)
	barrier(t, c, p) // asleep: nothing more
	p.Send(wire.Noop)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.Expect(wire.PreSleep)
}

func TestScriptUnknownHandles(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:known")
	p.Send(wire.WorkData, "H:nope", strings.Repeat("x", 100<<10))
	p.Send(wire.WorkStatus, "H:nope", "1", "2")
	p.Send(wire.WorkWarning, "H:nope", "w")
	p.Send(wire.WorkException, "H:nope", "e")
	p.Send(wire.WorkFail, "H:nope")
	p.Send(wire.WorkComplete, "H:nope", "done")
	barrier(t, c, p)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	p.Send(wire.WorkComplete, "H:known", "ok")
	if got, err := task.Result(ctx); err != nil || string(got) != "ok" {
		t.Fatalf("result %q, %v", got, err)
	}
}

func TestScriptUnexpectedPackets(t *testing.T) {
	raw := func(m string, typ wire.Type, body string) []byte {
		b := wire.AppendHeader(nil, wire.Res, typ, uint32(len(body)))
		copy(b, m)
		return append(b, body...)
	}
	for _, tc := range []struct {
		name string
		send func(p *scripted.Peer)
		want string
	}{
		{"JOB_CREATED", func(p *scripted.Peer) { p.Send(wire.JobCreated, "H:1") }, "JOB_CREATED with no submit"},
		{"NO_JOB", func(p *scripted.Peer) { p.Send(wire.NoJob) }, "NO_JOB with no grab"},
		{"JOB_ASSIGN", func(p *scripted.Peer) { p.Send(wire.JobAssign, "H:1", "f", "x") }, "JOB_ASSIGN with no grab"},
		{"ECHO_RES", func(p *scripted.Peer) { p.Send(wire.EchoRes, "x") }, "ECHO_RES with no request"},
		{"STATUS_RES", func(p *scripted.Peer) { p.Send(wire.StatusRes, "H:1", "0", "0", "0", "0") }, "STATUS_RES with no request"},
		{"OPTION_RES", func(p *scripted.Peer) { p.Send(wire.OptionRes, "exceptions") }, "OPTION_RES with no request"},
		{"REQ magic", func(p *scripted.Peer) { p.SendRaw(raw("\x00REQ", wire.Noop, "")) }, "unexpected REQ NOOP"},
		{"request type", func(p *scripted.Peer) { p.SendRaw(raw("\x00RES", wire.GrabJob, "")) }, "unexpected RES GRAB_JOB"},
		{"text line", func(p *scripted.Peer) { p.SendRaw([]byte("OK\n")) }, "unexpected TEXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			tc.send(p)
			err := wantConnLost(t, c)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Err() = %q; want it to say %q", err, tc.want)
			}
			p.ExpectClosed()
		})
	}
}

func TestScriptMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"bad magic", []byte("\x00RAS\x00\x00\x00\x06\x00\x00\x00\x00"), wire.ErrBadMagic},
		{"unknown type", []byte("\x00RES\x00\x00\x00\x05\x00\x00\x00\x00"), wire.ErrUnknownType},
		{"short header", []byte("\x00RES\x00\x00"), io.ErrUnexpectedEOF},
		{"short body", []byte("\x00RES\x00\x00\x00\x08\x00\x00\x00\x10H:1"), io.ErrUnexpectedEOF},
		{"short data", []byte("\x00RES\x00\x00\x00\x1c\x00\x00\x00\x10H:1\x00ab"), io.ErrUnexpectedEOF},
		{"missing arguments", []byte("\x00RES\x00\x00\x00\x13\x00\x00\x00\x04CODE"), wire.ErrArgCount},
		{"too large", []byte("\x00RES\x00\x00\x00\x13\x01\x00\x00\x00"), wire.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			ctx := testCtx(t)
			// A task on handle H:1, so that "short data" is read into it.
			task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:1")
			p.SendRaw(tc.bytes)
			p.Close() // the end of the stream cuts the packet short
			err := wantConnLost(t, c)
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
				t.Fatalf("Err() = %v; want a *wire.ProtocolError wrapping %v", err, tc.want)
			}
			if _, err := task.Result(ctx); !errors.Is(err, gearman.ErrConnLost) {
				t.Fatalf("task: %v; want ErrConnLost", err)
			}
		})
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

func typeByName(t *testing.T, name string) wire.Type {
	for typ := wire.Type(1); typ <= wire.MaxType; typ++ {
		if typ.String() == name {
			return typ
		}
	}
	t.Fatalf("no packet type %s", name)
	return 0
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
	p.Expect(wire.SubmitJob)
	cancel()
	if s := <-ach; !errors.Is(s.err, context.Canceled) {
		t.Fatalf("abandoned submit: %v, %v", s.task, s.err)
	}
	bch := submitAsync(ctx, c, job)
	p.Expect(wire.SubmitJob)
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
	p.Expect(wire.OptionReq)
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
		order = append(order, string(p.Expect(wire.SubmitJob).Arg(2)))
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

// gate is a handler that reads its payload, tells started, and waits for its
// handle on release before it writes the payload back.
type gate struct {
	started chan string
	payload chan []byte
	release map[string]chan error
}

func newGate(handles ...string) *gate {
	g := &gate{started: make(chan string, 10), payload: make(chan []byte, 10), release: map[string]chan error{}}
	for _, h := range handles {
		g.release[h] = make(chan error, 1)
	}
	return g
}

func (g *gate) Work(ctx context.Context, t *gearman.Task) error {
	g.started <- t.Handle()
	p, err := io.ReadAll(t)
	if err != nil {
		return err
	}
	g.payload <- p
	select {
	case err := <-g.release[t.Handle()]:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err = t.Write(p)
	return err
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(scripted.DefaultTimeout):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// abraxas defect 14: a JOB_NOT_FOUND ERROR about a worker's packet must not
// be taken as the answer to a pending submit.
func TestScriptJobNotFoundAfterComplete(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	g := newGate("H:w")
	c.Register("g", g, nil)
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:w", "g", "", "x")
	recv(t, g.started)
	ch := submitAsync(ctx, c, gearman.Job{Func: "f"})
	p.Expect(wire.SubmitJob)
	g.release["H:w"] <- nil
	p.Expect(wire.WorkData)
	p.Expect(wire.WorkComplete)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.Error, "JOB_NOT_FOUND", "Job given in work result not found")
	p.Send(wire.JobCreated, "H:c")
	s := recv(t, ch)
	if s.err != nil || s.task.Handle() != "H:c" {
		t.Fatalf("submit: %v", s.err)
	}
	p.Send(wire.NoJob)
	p.Expect(wire.PreSleep)
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
			p.Expect(wire.CanDo)
			p.Expect(wire.GrabJobUniq)
			p.Send(wire.JobAssignUniq, "H:1", "f", "u", "payload")
			for _, typ := range tc.want {
				got := p.Expect(typ)
				if string(got.Arg(0)) != "H:1" {
					t.Fatalf("got %v; want handle H:1", got)
				}
				if typ == wire.WorkWarning || typ == wire.WorkException {
					if string(got.Arg(1)) != "boom" {
						t.Fatalf("got %v; want message boom", got)
					}
				}
			}
			p.Expect(wire.GrabJobUniq)
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
		got := p.Expect(wire.CanDoTimeout)
		if string(got.Arg(0)) != "f" || string(got.Arg(1)) != tc.want {
			t.Fatalf("got %v; want CAN_DO_TIMEOUT f %s", got, tc.want)
		}
		if tc.d == 1500*time.Millisecond {
			p.Expect(wire.GrabJobUniq)
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
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Expect(wire.GrabJobUniq)
	barrier(t, c, p) // one grab per free slot, all in flight, no more
	p.Send(wire.JobAssignUniq, "H:1", "g", "", "one")
	p.Send(wire.JobAssignUniq, "H:2", "g", "", "two")
	recv(t, g.started)
	recv(t, g.started)
	barrier(t, c, p) // two jobs run: no grab
	g.release["H:2"] <- nil
	p.Expect(wire.WorkData)
	p.Expect(wire.WorkComplete)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:3", "g", "", "three")
	recv(t, g.started)
	barrier(t, c, p)
	g.release["H:1"] <- nil
	p.Expect(wire.WorkData)
	p.Expect(wire.WorkComplete)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.NoJob)
	p.Expect(wire.PreSleep)
	g.release["H:3"] <- gearman.ErrJobFailed
	p.Expect(wire.WorkFail)
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
	p.Expect(wire.CanDo)
	for range 3 {
		p.Expect(wire.GrabJobUniq)
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
	p.Expect(wire.PreSleep)
	if got := p.Expect(wire.WorkComplete); string(got.Arg(1)) != "abc" {
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
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Expect(wire.GrabJobUniq)
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
		got, err := p.Next()
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

// Close cancels the context of running handlers, waits for them, and leaves
// no goroutine behind (TestMain checks).
func TestScriptCloseWithHandler(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	g := newGate()
	c.Register("g", g, nil)
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "g", "", "x")
	recv(t, g.payload)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), gearman.ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
	p.ExpectClosed()
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
	if got := p.Expect(wire.SubmitJob); string(got.Arg(2)) != "abcxyz" {
		t.Fatalf("got %v; want payload abcxyz", got)
	}
}

// Regression: a last argument of LargeData bytes or more was queued by
// reference even for packets without a data argument, with no header: a
// long function name or handle broke the stream.
func TestScriptLongArguments(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	long := strings.Repeat("f", wire.LargeData+10)
	if err := c.Register(long, reverseHandler, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.Expect(wire.CanDo); string(got.Arg(0)) != long {
		t.Fatalf("CAN_DO of %d bytes; want %d", len(got.Arg(0)), len(long))
	}
	p.Expect(wire.GrabJobUniq)
	done := make(chan error, 1)
	go func() {
		_, err := c.JobStatus(context.Background(), long)
		done <- err
	}()
	if got := p.Expect(wire.GetStatus); string(got.Arg(0)) != long {
		t.Fatalf("GET_STATUS of %d bytes; want %d", len(got.Arg(0)), len(long))
	}
	p.Send(wire.StatusRes, "H:x", "0", "0", "0", "0")
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	barrier(t, c, p)
}

// Regression: a JOB_CREATED or JOB_ASSIGN handled while Close ran could
// put its task where shutdown had already looked: the task (or the handler
// reading its payload) then waited forever. Each round races Close with
// both packets; a lost task fails on its deadline.
func TestScriptCloseRacesReplies(t *testing.T) {
	for range 100 {
		c, p := scriptConn(t, &gearman.Options{TaskBuffer: 1 << 10}, true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Register("f", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
			return b, nil
		}), nil)
		p.Expect(wire.CanDo)
		p.Expect(wire.GrabJobUniq)
		ch := submitAsync(ctx, c, gearman.Job{Func: "f"})
		p.Expect(wire.SubmitJob)
		closed := make(chan struct{})
		go func() {
			c.Close()
			close(closed)
		}()
		p.SendRaw(append(
			mustAppend(wire.AppendPacket(nil, wire.Res, wire.JobCreated, []byte("H:1"))),
			mustAppend(wire.AppendPacket(nil, wire.Res, wire.JobAssign, []byte("H:2"), []byte("f"), make([]byte, 64<<10)))...))
		if s := <-ch; s.err == nil {
			if _, err := s.task.Result(ctx); !errors.Is(err, gearman.ErrClosed) {
				t.Fatalf("task: %v; want ErrClosed", err)
			}
		}
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatal("Close hangs")
		}
		cancel()
		p.Close()
	}
}

func mustAppend(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
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
	p.Expect(wire.CanDo)
	p.Expect(wire.GrabJobUniq)
	payload := strings.Repeat("p", 200<<10)
	p.Send(wire.JobAssignUniq, "H:1", "copy", "", payload)
	got := p.Expect(wire.WorkData)
	if string(got.Arg(1)) != payload {
		t.Fatalf("first WORK_DATA holds %d bytes; want the whole payload of %d", len(got.Arg(1)), len(payload))
	}
	if got := p.Expect(wire.WorkComplete); len(got.Arg(1)) != 0 {
		t.Fatalf("WORK_COMPLETE with %d bytes; want none", len(got.Arg(1)))
	}
	p.Expect(wire.GrabJobUniq)

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
