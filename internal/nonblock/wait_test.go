package nonblock_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
)

// A read into a buffer larger than a raw call copies (1 MiB) gets what the
// socket holds, and the rest on later reads.
func TestReadLarge(t *testing.T) {
	c, peer := pair(t)
	r := nonblock.NewReader(c)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		peer.Write(want)
		peer.Close()
	}()
	if got := readToEOF(t, r, 1<<20); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d sent", len(got), len(want))
	}
}

// A Read or WriteBuffers that waits ends promptly, with an error that says
// why, when another goroutine closes the connection or sets a deadline in
// the past (as a Conn does to hand its reading on).
func TestWaitInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(c net.Conn)
		want error
	}{
		{"deadline", func(c net.Conn) { c.SetDeadline(time.Unix(1, 0)) }, os.ErrDeadlineExceeded},
		{"close", func(c net.Conn) { c.Close() }, net.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := pair(t)
			r, w := nonblock.NewReader(c), nonblock.NewWriter(c)
			errs := make(chan error, 2)
			go func() {
				_, err := r.Read(make([]byte, 16))
				errs <- err
			}()
			go func() {
				_, err := w.WriteBuffers([][]byte{make([]byte, 64<<20)}) // more than the socket holds
				errs <- err
			}()
			time.Sleep(50 * time.Millisecond) // both wait by now
			tc.stop(c)
			for range 2 {
				select {
				case err := <-errs:
					var oe *net.OpError
					if !errors.Is(err, tc.want) || !errors.As(err, &oe) {
						t.Errorf("interrupted wait: %v (%T); want a *net.OpError wrapping %v", err, err, tc.want)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("a wait did not end")
				}
			}
		})
	}
}

// A Unix stream socket is plain, and works as TCP does.
func TestUnixSocket(t *testing.T) {
	c, peer := pairOf(t, "unix", filepath.Join(t.TempDir(), "s"))
	if !nonblock.Plain(c) {
		t.Fatal("Plain(unix stream socket) = false")
	}
	r, w := nonblock.NewReader(c), nonblock.NewWriter(c)
	go func() {
		b := make([]byte, 5)
		io.ReadFull(peer, b)
		peer.Write(bytes.ToUpper(b))
	}()
	if _, err := w.WriteBuffers([][]byte{[]byte("he"), []byte("llo")}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(r, b); err != nil || string(b) != "HELLO" {
		t.Fatalf("read %q, %v; want HELLO", b, err)
	}
}

// embedded is a wrapper of a socket, which Plain must not take for one.
type embedded struct{ *net.TCPConn }

func TestPlain(t *testing.T) {
	c, _ := pair(t)
	if !nonblock.Plain(c) {
		t.Error("Plain(*net.TCPConn) = false")
	}
	if nonblock.Plain(embedded{c.(*net.TCPConn)}) {
		t.Error("Plain(a struct embedding *net.TCPConn) = true")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if nonblock.Plain(a) {
		t.Error("Plain(net.Pipe) = true")
	}
	g, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "g"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if nonblock.Plain(g) {
		t.Error("Plain(unixgram socket) = true")
	}
}

// The socket's own errors come as package net gives them.
func TestSocketError(t *testing.T) {
	c, peer := pair(t)
	r := nonblock.NewReader(c)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // a reset
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := r.TryRead(make([]byte, 16))
		if errors.Is(err, nonblock.ErrWouldBlock) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		var oe *net.OpError
		var se *os.SyscallError
		if !errors.As(err, &oe) || oe.Op != "read" || oe.Addr == nil || !errors.As(err, &se) {
			t.Fatalf("read from a reset connection: %v (%T); want a *net.OpError of a read with the addresses, wrapping an *os.SyscallError", err, err)
		}
		return
	}
}
