package nonblock_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns both ends of a loopback TCP connection, closed at the test's
// end.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// Write never waits: against a peer that does not read, it fills the socket
// buffers and then reports 0, and what it reported reaches the peer intact.
func TestWriteStopsWhenFull(t *testing.T) {
	c, peer := pair(t)
	w := nonblock.NewWriter(c)
	if w == nil {
		t.Fatal("NewWriter of a TCP connection is nil")
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var sent bytes.Buffer
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the socket never filled up")
		}
		n := w.Write(chunk)
		sent.Write(chunk[:n])
		if n < len(chunk) {
			break
		}
	}
	c.Close()
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("peer read %d bytes; want the %d that Write reported", len(got), sent.Len())
	}
}

// A write allocates nothing.
func TestWriteAllocs(t *testing.T) {
	c, peer := pair(t)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, peer)
		close(done)
	}()
	w := nonblock.NewWriter(c)
	b := []byte("0123456789ab")
	if n := testing.AllocsPerRun(100, func() { w.Write(b) }); n != 0 {
		t.Errorf("Write allocates %v times; want 0", n)
	}
	c.Close()
	<-done
}

// Read returns at once: ErrWouldBlock with nothing there, the bytes that
// are there, and io.EOF once the peer has closed.
func TestRead(t *testing.T) {
	c, peer := pair(t)
	r := nonblock.NewReader(c)
	if r == nil {
		t.Fatal("NewReader of a TCP connection is nil")
	}
	buf := make([]byte, 16)
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, nonblock.ErrWouldBlock) {
		t.Fatalf("empty socket: %d, %v; want ErrWouldBlock", n, err)
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := ""
	for got != "hello" {
		n, err := r.Read(buf)
		if err != nil && !errors.Is(err, nonblock.ErrWouldBlock) {
			t.Fatalf("read: %v", err)
		}
		got += string(buf[:n])
	}
	peer.Close()
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			break
		}
		if !errors.Is(err, nonblock.ErrWouldBlock) {
			t.Fatalf("after close: %v; want io.EOF", err)
		}
	}
}

// A connection that is not a socket has no Reader or Writer.
func TestNotSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := nonblock.NewWriter(a); w != nil {
		t.Fatalf("NewWriter(net.Pipe) = %v; want nil", w)
	}
	if r := nonblock.NewReader(a); r != nil {
		t.Fatalf("NewReader(net.Pipe) = %v; want nil", r)
	}
}
