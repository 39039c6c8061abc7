// Package wiretest is a scripted Gearman peer for tests, on either side of
// a connection: it sends packets (and admin lines), and expects exact
// packets back within a deadline. A client-side peer ([Dial], [New]) sends
// requests and expects responses, to test a server; a server-side peer
// ([Listen] and [Listener.Accept], [NewServerSide]) sends responses and
// expects requests, to test a client or worker, including with what a
// correct server never sends ([Peer.SendRaw]).
//
// Steps that fail the test (Expect*, Send*, Next) must run on the test's
// goroutine; NextErr and NextPacket are for other goroutines.
package wiretest

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// Timeout is how long an expectation waits, unless [Peer.SetTimeout]
// says otherwise.
const Timeout = 10 * time.Second

// Pkt is a received packet with its arguments copied; an admin line has
// Magic wire.Text, Type 0 and the line as its one argument.
type Pkt struct {
	Magic wire.Magic
	Type  wire.Type
	Args  []string
}

// String formats p for failure messages.
func (p Pkt) String() string {
	if p.Magic == wire.Text {
		return "TEXT " + quote(p.Args[0])
	}
	var b strings.Builder
	b.WriteString(p.Type.String())
	for _, a := range p.Args {
		b.WriteString(" ")
		b.WriteString(quote(a))
	}
	return b.String()
}

func quote(s string) string {
	if len(s) > 80 {
		return "\"" + s[:80] + "\"..."
	}
	return "\"" + strings.ReplaceAll(s, "\x00", `\0`) + "\""
}

// Peer is one side of a scripted connection.
type Peer struct {
	t       testing.TB
	C       net.Conn
	r       *wire.Reader
	bw      *wire.Writer
	out, in wire.Magic // what it sends, what it expects
	timeout time.Duration
}

// Dial connects to addr and closes the connection at the test's end.
func Dial(t testing.TB, addr string) *Peer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return New(t, c)
}

// New makes c the client side of a script: it sends requests and expects
// responses. The connection is closed at the test's end.
func New(t testing.TB, c net.Conn) *Peer { return newPeer(t, c, wire.Req, wire.Res) }

// NewServerSide makes c the server side of a script: it sends responses
// and expects requests. The connection is closed at the test's end.
func NewServerSide(t testing.TB, c net.Conn) *Peer { return newPeer(t, c, wire.Res, wire.Req) }

func newPeer(t testing.TB, c net.Conn, out, in wire.Magic) *Peer {
	t.Cleanup(func() { c.Close() })
	p := &Peer{t: t, C: c, r: wire.NewReader(c), bw: wire.NewWriter(c), out: out, in: in, timeout: Timeout}
	p.r.SetMaxPacketSize(1 << 30)
	return p
}

// SetTimeout changes how long each later step waits.
func (p *Peer) SetTimeout(d time.Duration) { p.timeout = d }

// Close closes the connection.
func (p *Peer) Close() { p.C.Close() }

// Send writes a packet of type t: a request from a client-side peer, a
// response from a server-side one.
func (p *Peer) Send(t wire.Type, args ...string) {
	p.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	if err := p.bw.WritePacket(p.out, t, bs...); err != nil {
		p.t.Fatalf("encode %v: %v", t, err)
	}
	p.flush()
}

// SendRaw writes bytes as they are: a malformed packet, a packet with the
// wrong magic, the first part of one.
func (p *Peer) SendRaw(b []byte) {
	p.t.Helper()
	p.bw.Write(b)
	p.flush()
}

// Line writes an admin command line ending in CRLF.
func (p *Peer) Line(cmd string) { p.t.Helper(); p.SendRaw([]byte(cmd + "\r\n")) }

func (p *Peer) flush() {
	p.t.Helper()
	p.C.SetWriteDeadline(time.Now().Add(p.timeout))
	if err := p.bw.Flush(); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// Next returns the next packet or line, failing the test after the
// peer's timeout.
func (p *Peer) Next() Pkt {
	p.t.Helper()
	pk, err := p.NextErr(p.timeout)
	if err != nil {
		p.t.Fatalf("waiting for a packet: %v", err)
	}
	return pk
}

// NextErr returns the next packet or line, or the error after d.
func (p *Peer) NextErr(d time.Duration) (Pkt, error) {
	p.C.SetReadDeadline(time.Now().Add(d))
	wp, err := p.r.Next()
	if err != nil {
		return Pkt{}, err
	}
	pk := Pkt{Magic: wp.Magic, Type: wp.Type}
	for _, a := range wp.Args {
		pk.Args = append(pk.Args, string(a))
	}
	return pk, nil
}

// NextPacket reads the next packet whole, within the peer's timeout. Its
// arguments are copies the caller may keep. It does not fail the test, so
// any goroutine may call it.
func (p *Peer) NextPacket() (wire.Packet, error) {
	p.C.SetReadDeadline(time.Now().Add(p.timeout))
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

// ExpectPacket reads the next packet and fails the test unless it is of
// type typ, from the other side (a request to a server-side peer, a
// response to a client-side one); its arguments are copies.
func (p *Peer) ExpectPacket(typ wire.Type) wire.Packet {
	p.t.Helper()
	pk, err := p.NextPacket()
	if err != nil {
		p.t.Fatalf("wiretest: want %v, read failed: %v", typ, err)
	}
	if pk.Magic != p.in || pk.Type != typ {
		p.t.Fatalf("wiretest: got %v; want %v %v", pk, p.in, typ)
	}
	return pk
}

// Expect fails the test unless the next packet is of type t, from the
// other side, with exactly args.
func (p *Peer) Expect(t wire.Type, args ...string) Pkt {
	p.t.Helper()
	got := p.Next()
	want := Pkt{Magic: p.in, Type: t, Args: args}
	if got.String() != want.String() || got.Magic != p.in {
		p.t.Fatalf("got %v; want %v", got, want)
	}
	return got
}

// ExpectType fails the test unless the next packet has type t; it returns
// the packet.
func (p *Peer) ExpectType(t wire.Type) Pkt {
	p.t.Helper()
	got := p.Next()
	if got.Type != t || got.Magic != p.in {
		p.t.Fatalf("got %v; want a %v", got, t)
	}
	return got
}

// ExpectNone fails the test if anything arrives within d.
func (p *Peer) ExpectNone(d time.Duration) {
	p.t.Helper()
	got, err := p.NextErr(d)
	if err == nil {
		p.t.Fatalf("got %v; want nothing", got)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		p.t.Fatalf("got error %v; want nothing", err)
	}
	// The reader's error is sticky after a deadline: start a fresh one.
	p.r = wire.NewReader(p.C)
	p.r.SetMaxPacketSize(1 << 30)
}

// ExpectClosed fails the test unless the other side closes the connection
// (after any packets, which are returned) within the peer's timeout.
func (p *Peer) ExpectClosed() []Pkt {
	p.t.Helper()
	var got []Pkt
	for {
		pk, err := p.NextErr(p.timeout)
		if err == nil {
			got = append(got, pk)
			continue
		}
		if closed(err) {
			return got
		}
		p.t.Fatalf("after %v: got %v; want the connection closed", got, err)
	}
}

// ExpectClosedNow is ExpectClosed for a connection that must close with
// no packet first.
func (p *Peer) ExpectClosedNow() {
	p.t.Helper()
	if got := p.ExpectClosed(); len(got) > 0 {
		p.t.Fatalf("wiretest: got %v; want the connection closed first", got)
	}
}

// closed reports whether err, from a read, says the connection ended: the
// peer closed it (EOF) or reset it, or this side was closed; not a
// deadline.
func closed(err error) bool {
	var ne *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne) && !ne.Timeout()
}

// ReadText reads raw text until it ends with end (such as ".\n" or "\r\n")
// and returns it, failing the test after Timeout.
func (p *Peer) ReadText(end string) string {
	p.t.Helper()
	var b strings.Builder
	deadline := time.Now().Add(p.timeout)
	for !strings.HasSuffix(b.String(), end) {
		pk, err := p.NextErr(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("reading text %q: %v", b.String(), err)
		}
		if pk.Magic != wire.Text {
			p.t.Fatalf("got %v inside text %q", pk, b.String())
		}
		b.WriteString(pk.Args[0])
		b.WriteString("\n")
	}
	return b.String()
}

// Admin sends an admin command and returns the answer's raw bytes, read up
// to the list terminator ".\n" when list is true, else one line.
func (p *Peer) Admin(cmd string, list bool) string {
	p.t.Helper()
	p.Line(cmd)
	buf := make([]byte, 0, 256)
	tmp := make([]byte, 4096)
	deadline := time.Now().Add(p.timeout)
	for {
		if list && (string(buf) == ".\n" || strings.HasSuffix(string(buf), "\n.\n")) ||
			!list && strings.HasSuffix(string(buf), "\n") {
			return string(buf)
		}
		if p.r.Buffered() > 0 {
			p.t.Fatalf("Admin after buffered packets")
		}
		p.C.SetReadDeadline(deadline)
		n, err := p.C.Read(tmp)
		if err != nil {
			p.t.Fatalf("admin %q: got %q, %v", cmd, buf, err)
		}
		buf = append(buf, tmp[:n]...)
	}
}

// Pair returns both ends of a connection of network ("tcp" or "unix")
// through a listener at addr ("127.0.0.1:0", or a socket path): the dialled
// end, then the accepted one. Both are closed at the test's end.
func Pair(t testing.TB, network, addr string) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		c.Close()
		t.Fatal("wiretest: accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// Listener is a loopback listener whose connections become server-side
// peers. It is closed at the test's end, as is every peer it accepted.
type Listener struct {
	t testing.TB
	l net.Listener
}

// Listen starts a Listener on a free loopback port.
func Listen(t testing.TB) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("wiretest: listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return &Listener{t: t, l: l}
}

// Addr returns the address to dial.
func (l *Listener) Addr() string { return l.l.Addr().String() }

// Accept waits (at most Timeout) for the next connection and returns its
// server-side peer.
func (l *Listener) Accept() *Peer {
	l.t.Helper()
	l.l.(*net.TCPListener).SetDeadline(time.Now().Add(Timeout))
	nc, err := l.l.Accept()
	if err != nil {
		l.t.Fatalf("wiretest: accept: %v", err)
	}
	return NewServerSide(l.t, nc)
}

// Sync returns once the server has handled everything p sent before: an
// ECHO_REQ's answer comes after theirs.
func (p *Peer) Sync() {
	p.t.Helper()
	p.Send(wire.EchoReq, "sync")
	p.Expect(wire.EchoRes, "sync")
}

// SleepingWorker connects a worker to the server at addr that registers
// fns, finds no job and goes to sleep (PRE_SLEEP), and returns once the
// server has handled all of it: the server reads each connection on its
// own goroutine, so without that a worker dialled next could be asleep
// first.
func SleepingWorker(t testing.TB, addr string, fns ...string) *Peer {
	t.Helper()
	w := Dial(t, addr)
	for _, f := range fns {
		w.Send(wire.CanDo, f)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	w.Send(wire.PreSleep)
	w.Sync()
	return w
}
