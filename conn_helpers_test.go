package gearman_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// Tests against a scripted server (internal/wiretest): the exact packets the
// connection sends, and what it does with packets a correct server never
// sends. Events are ordered by the script and by barrier, never by sleeping.

// scriptConn dials a scripted server and answers the negotiation: OPTION_RES
// when exceptions is true, else ERROR UNKNOWN_OPTION.
func scriptConn(t *testing.T, opts *gearman.Options, exceptions bool) (*gearman.Conn, *wiretest.Peer) {
	t.Helper()
	l := wiretest.Listen(t)
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
		p.ExpectPacket(wire.SetClientID)
	}
	if got := p.ExpectPacket(wire.OptionReq); string(got.Arg(0)) != "exceptions" {
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
func barrier(t *testing.T, c *gearman.Conn, p *wiretest.Peer) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		got, err := c.Echo(context.Background(), []byte("barrier"))
		if err == nil && string(got) != "barrier" {
			err = fmt.Errorf("echo gave %q", got)
		}
		done <- err
	}()
	p.ExpectPacket(wire.EchoReq)
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
func submitScripted(t *testing.T, ctx context.Context, c *gearman.Conn, p *wiretest.Peer, job gearman.Job, h string) *gearman.Task {
	t.Helper()
	ch := submitAsync(ctx, c, job)
	p.ExpectPacket(wire.SubmitJob)
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
	case <-time.After(wiretest.Timeout):
		t.Fatal("connection did not fail")
	}
	err := c.Err()
	if !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Err() = %v; want ErrConnLost", err)
	}
	return err
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
	case <-time.After(wiretest.Timeout):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

func mustAppend(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
