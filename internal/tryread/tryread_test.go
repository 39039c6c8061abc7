package tryread_test

import (
	"errors"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/tryread"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b := <-dialed
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Read returns at once: ErrWouldBlock with nothing there, the bytes that
// are there, and io.EOF once the peer has closed.
func TestRead(t *testing.T) {
	a, b := pair(t)
	r := tryread.New(a)
	if r == nil {
		t.Skip("no non-blocking read on this platform")
	}
	buf := make([]byte, 16)
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, tryread.ErrWouldBlock) {
		t.Fatalf("empty socket: %d, %v; want ErrWouldBlock", n, err)
	}
	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := ""
	for got != "hello" {
		n, err := r.Read(buf)
		if err != nil && !errors.Is(err, tryread.ErrWouldBlock) {
			t.Fatalf("read: %v", err)
		}
		got += string(buf[:n])
	}
	b.Close()
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			break
		}
		if !errors.Is(err, tryread.ErrWouldBlock) {
			t.Fatalf("after close: %v; want io.EOF", err)
		}
	}
}

// New gives nil for what is not a socket.
func TestNewNotSocket(t *testing.T) {
	a, _ := net.Pipe()
	defer a.Close()
	if r := tryread.New(a); r != nil {
		t.Fatal("a net.Pipe end got a Reader")
	}
}
