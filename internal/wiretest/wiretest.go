// Package wiretest is a scripted Gearman peer for tests: it sends packets
// and admin lines, and expects exact packets back within a deadline.
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

// Timeout is how long an expectation waits.
const Timeout = 5 * time.Second

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

// Peer is one scripted connection. Its methods fail the test on error and
// must be called from the test's goroutine.
type Peer struct {
	t  testing.TB
	C  net.Conn
	r  *wire.Reader
	bw *wire.Writer
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

// New wraps an open connection.
func New(t testing.TB, c net.Conn) *Peer {
	t.Cleanup(func() { c.Close() })
	p := &Peer{t: t, C: c, r: wire.NewReader(c), bw: wire.NewWriter(c)}
	p.r.SetMaxPacketSize(1 << 30)
	return p
}

// Send writes a request packet.
func (p *Peer) Send(t wire.Type, args ...string) {
	p.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	if err := p.bw.WritePacket(wire.Req, t, bs...); err != nil {
		p.t.Fatalf("encode %v: %v", t, err)
	}
	p.flush()
}

// SendRaw writes bytes as they are.
func (p *Peer) SendRaw(b []byte) {
	p.t.Helper()
	p.bw.Write(b)
	p.flush()
}

// Line writes an admin command line ending in CRLF.
func (p *Peer) Line(cmd string) { p.t.Helper(); p.SendRaw([]byte(cmd + "\r\n")) }

func (p *Peer) flush() {
	p.t.Helper()
	p.C.SetWriteDeadline(time.Now().Add(Timeout))
	if err := p.bw.Flush(); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// Next returns the next packet or line, failing the test after Timeout.
func (p *Peer) Next() Pkt {
	p.t.Helper()
	pk, err := p.NextErr(Timeout)
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

// Expect fails the test unless the next packet is a response of type t
// with exactly args.
func (p *Peer) Expect(t wire.Type, args ...string) Pkt {
	p.t.Helper()
	got := p.Next()
	want := Pkt{Magic: wire.Res, Type: t, Args: args}
	if got.String() != want.String() || got.Magic != wire.Res {
		p.t.Fatalf("got %v; want %v", got, want)
	}
	return got
}

// ExpectType fails the test unless the next packet has type t; it returns
// the packet.
func (p *Peer) ExpectType(t wire.Type) Pkt {
	p.t.Helper()
	got := p.Next()
	if got.Type != t || got.Magic != wire.Res {
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

// ExpectClosed fails the test unless the server closes the connection
// (after any packets, which are returned).
func (p *Peer) ExpectClosed() []Pkt {
	p.t.Helper()
	var got []Pkt
	for {
		pk, err := p.NextErr(Timeout)
		if err == nil {
			got = append(got, pk)
			continue
		}
		if errors.Is(err, io.EOF) || isReset(err) {
			return got
		}
		p.t.Fatalf("after %v: got %v; want the connection closed", got, err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// ReadText reads raw text until it ends with end (such as ".\n" or "\r\n")
// and returns it, failing the test after Timeout.
func (p *Peer) ReadText(end string) string {
	p.t.Helper()
	var b strings.Builder
	deadline := time.Now().Add(Timeout)
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
	deadline := time.Now().Add(Timeout)
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
