package trywrite_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/trywrite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Write never waits: against a peer that does not read, it fills the socket
// buffers and then reports 0, and what it reported reaches the peer intact.
func TestWriteStopsWhenFull(t *testing.T) {
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
	defer c.Close()
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	w := trywrite.New(c)
	if w == nil {
		t.Fatal("New of a TCP connection is nil")
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

// A connection that is not a socket has no Writer.
func TestConnNotSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := trywrite.New(a); w != nil {
		t.Fatalf("New(net.Pipe) = %v; want nil", w)
	}
}

// A write allocates nothing.
func TestWriteAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := trywrite.New(c)
	b := []byte("0123456789ab")
	if n := testing.AllocsPerRun(100, func() { w.Write(b) }); n != 0 {
		t.Errorf("Write allocates %v times; want 0", n)
	}
}
