// Package scripted is a fake job server for tests that check the exact
// packets a [gearman.Conn] sends and how it takes what a server sends,
// including what a correct server never sends.
//
// A test starts a [Listener], dials it, takes the one connection with
// [Listener.Accept], and then runs a linear script on the [Peer]: Expect a
// packet, Send one, ExpectClosed. Every step has a deadline, so a test that
// waits for something that never comes fails instead of hanging. Steps that
// fail the test (Expect, Send, ExpectClosed) must run on the test's
// goroutine; Next is for other goroutines.
package scripted

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// DefaultTimeout bounds each step of a script.
const DefaultTimeout = 10 * time.Second

// Listener is a loopback listener that accepts the connections of a test.
// t.Cleanup closes it and every peer it accepted.
type Listener struct {
	t testing.TB
	l net.Listener
}

// Listen starts a Listener on a free loopback port.
func Listen(t testing.TB) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scripted: listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return &Listener{t: t, l: l}
}

// Addr returns the address to dial.
func (l *Listener) Addr() string { return l.l.Addr().String() }

// Accept waits (at most DefaultTimeout) for the next connection and returns
// its peer.
func (l *Listener) Accept() *Peer {
	l.t.Helper()
	l.l.(*net.TCPListener).SetDeadline(time.Now().Add(DefaultTimeout))
	nc, err := l.l.Accept()
	if err != nil {
		l.t.Fatalf("scripted: accept: %v", err)
	}
	return NewPeer(l.t, nc)
}

// Peer is the server side of one connection.
type Peer struct {
	t       testing.TB
	nc      net.Conn
	r       *wire.Reader
	w       *wire.Writer
	timeout time.Duration
}

// NewPeer runs a script on the server side of nc. t.Cleanup closes nc.
func NewPeer(t testing.TB, nc net.Conn) *Peer {
	p := &Peer{t: t, nc: nc, r: wire.NewReader(nc), w: wire.NewWriter(nc), timeout: DefaultTimeout}
	p.r.SetMaxPacketSize(1 << 30)
	t.Cleanup(func() { nc.Close() })
	return p
}

// SetTimeout changes the deadline of each later step.
func (p *Peer) SetTimeout(d time.Duration) { p.timeout = d }

// Next reads the next packet whole. Its arguments are copies the caller may
// keep. It does not fail the test, so any goroutine may call it.
func (p *Peer) Next() (wire.Packet, error) {
	p.nc.SetReadDeadline(time.Now().Add(p.timeout))
	pk, err := p.r.Next()
	if err != nil {
		return wire.Packet{}, err
	}
	args := make([][]byte, len(pk.Args))
	for i, a := range pk.Args {
		args[i] = append([]byte{}, a...)
	}
	pk.Args = args
	return pk, nil
}

// Expect reads the next packet and fails the test unless it is a request
// (magic REQ) of type typ.
func (p *Peer) Expect(typ wire.Type) wire.Packet {
	p.t.Helper()
	pk, err := p.Next()
	if err != nil {
		p.t.Fatalf("scripted: want %v, read failed: %v", typ, err)
	}
	if pk.Magic != wire.Req || pk.Type != typ {
		p.t.Fatalf("scripted: got %v; want REQ %v", pk, typ)
	}
	return pk
}

// Send writes a response packet (magic RES) of type typ with args.
func (p *Peer) Send(typ wire.Type, args ...string) {
	p.t.Helper()
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	p.nc.SetWriteDeadline(time.Now().Add(p.timeout))
	err := p.w.WritePacket(wire.Res, typ, b...)
	if err == nil {
		err = p.w.Flush()
	}
	if err != nil {
		p.t.Fatalf("scripted: send %v: %v", typ, err)
	}
}

// SendRaw writes b as it is: a malformed packet, a packet with the wrong
// magic, the first part of one.
func (p *Peer) SendRaw(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(p.timeout))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("scripted: send raw: %v", err)
	}
}

// ExpectClosed waits until the other side closes the connection, and fails
// the test if it sends a packet first or does not close it in time.
func (p *Peer) ExpectClosed() {
	p.t.Helper()
	pk, err := p.Next()
	switch {
	case err == nil:
		p.t.Fatalf("scripted: got %v; want the connection closed", pk)
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.t.Fatalf("scripted: connection not closed within %v", p.timeout)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReset(err):
	default:
		p.t.Fatalf("scripted: want the connection closed: %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// Close closes the server side of the connection.
func (p *Peer) Close() { p.nc.Close() }
