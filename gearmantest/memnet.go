package gearmantest

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeSize is how many bytes each direction of an in-memory connection
// buffers before its writer waits.
const pipeSize = 256 << 10

// memAddr is the address of an in-memory endpoint.
type memAddr string

func (a memAddr) Network() string { return "gearmantest" }
func (a memAddr) String() string  { return string(a) }

// listener is an in-memory net.Listener: dial hands it one end of a new
// buffered connection. Accept blocks on a channel, which testing/synctest
// sees as durably blocked.
type listener struct {
	addr    memAddr
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	refused func() bool // reports whether dials fail for now (see Server.Refuse)
}

func newListener(name string, refused func() bool) *listener {
	return &listener{addr: memAddr(name), conns: make(chan net.Conn), done: make(chan struct{}), refused: refused}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

// errRefused is what a dial gets while the server refuses connections.
var errRefused = errors.New("gearmantest: connection refused")

// dial connects to the listener, as a net.Dialer's DialContext would.
func (l *listener) dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.refused() {
		return nil, &net.OpError{Op: "dial", Net: "gearmantest", Addr: l.addr, Err: errRefused}
	}
	client, server := newPipe(memAddr("gearmantest-client:1"), l.addr)
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "gearmantest", Addr: l.addr, Err: errRefused}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newPipe returns the two ends of a buffered in-memory connection.
func newPipe(a, b memAddr) (net.Conn, net.Conn) {
	ab, ba := newHalf(), newHalf()
	return &memConn{in: ba, out: ab, local: a, remote: b}, &memConn{in: ab, out: ba, local: b, remote: a}
}

// half is one direction of a connection: a bounded byte buffer.
type half struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	closed bool // no more writes: the reader gets EOF after the buffer
	broken bool // the reader is gone: writes fail
}

func newHalf() *half {
	h := &half{}
	h.cond.L = &h.mu
	return h
}

// memConn is one end of an in-memory connection. Unlike net.Pipe, each
// direction buffers pipeSize bytes, so two peers that write at once do not
// stall each other.
type memConn struct {
	in, out       *half
	local, remote memAddr
	dmu           sync.Mutex
	readDL        time.Time
	writeDL       time.Time
	closeOnce     sync.Once
}

func (c *memConn) deadline(write bool) time.Time {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if write {
		return c.writeDL
	}
	return c.readDL
}

// wait blocks on h.cond until woken or the deadline passes; h.mu held. It
// reports false when the deadline has passed.
func wait(h *half, dl time.Time) bool {
	if dl.IsZero() {
		h.cond.Wait()
		return true
	}
	d := time.Until(dl)
	if d <= 0 {
		return false
	}
	t := time.AfterFunc(d, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	h.cond.Wait()
	t.Stop()
	return true
}

func (c *memConn) Read(p []byte) (int, error) {
	h := c.in
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.buf) == 0 {
		switch {
		case h.broken:
			return 0, net.ErrClosed
		case h.closed:
			return 0, io.EOF
		}
		if !wait(h, c.deadline(false)) {
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	if len(h.buf) == 0 {
		h.buf = nil
	}
	h.cond.Broadcast()
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	h := c.out
	h.mu.Lock()
	defer h.mu.Unlock()
	written := 0
	for len(p) > 0 {
		if h.closed || h.broken {
			return written, net.ErrClosed
		}
		room := pipeSize - len(h.buf)
		if room <= 0 {
			if !wait(h, c.deadline(true)) {
				return written, os.ErrDeadlineExceeded
			}
			continue
		}
		n := min(room, len(p))
		h.buf = append(h.buf, p[:n]...)
		p = p[n:]
		written += n
		h.cond.Broadcast()
	}
	return written, nil
}

// Close ends both directions: the peer reads what was written, then EOF;
// reads and writes here fail.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		c.out.mu.Lock()
		c.out.closed = true
		c.out.cond.Broadcast()
		c.out.mu.Unlock()
		c.in.mu.Lock()
		c.in.broken = true
		c.in.buf = nil
		c.in.cond.Broadcast()
		c.in.mu.Unlock()
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.readDL, c.in, t)
	return nil
}

func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.writeDL, c.out, t)
	return nil
}

// setDeadline sets one of the deadlines and wakes the waiters of h, which
// check it again.
func (c *memConn) setDeadline(dl *time.Time, h *half, t time.Time) {
	c.dmu.Lock()
	*dl = t
	c.dmu.Unlock()
	h.mu.Lock()
	h.cond.Broadcast()
	h.mu.Unlock()
}
