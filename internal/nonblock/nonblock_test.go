package nonblock_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns both ends of a loopback TCP connection, closed at the test's
// end, and skips the test where the platform has no non-blocking calls.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return pairOf(t, "tcp", "127.0.0.1:0")
}

// pairOf is pair for a listener of network at addr.
func pairOf(t *testing.T, network, addr string) (net.Conn, net.Conn) {
	t.Helper()
	c, peer := wiretest.Pair(t, network, addr)
	if nonblock.NewWriter(c) == nil {
		t.Skip("no non-blocking system calls on this platform")
	}
	return c, peer
}

// TryWrite never waits: against a peer that does not read, it fills the socket
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
		n := w.TryWrite(chunk)
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
		t.Fatalf("peer read %d bytes; want the %d that TryWrite reported", len(got), sent.Len())
	}
}

// Writes allocate nothing.
func TestWriteAllocs(t *testing.T) {
	c, peer := pair(t)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, peer)
		close(done)
	}()
	w := nonblock.NewWriter(c)
	b := []byte("0123456789ab")
	if n := testing.AllocsPerRun(100, func() { w.TryWrite(b) }); n != 0 {
		t.Errorf("TryWrite allocates %v times; want 0", n)
	}
	bufs := make([][]byte, 3)
	if n := testing.AllocsPerRun(100, func() {
		bufs[0], bufs[1], bufs[2] = b, nil, b
		if _, err := w.WriteBuffers(bufs); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteBuffers allocates %v times; want 0", n)
	}
	c.Close()
	<-done
}

// TryRead returns at once: ErrWouldBlock with nothing there, the bytes that
// are there, and io.EOF once the peer has closed.
func TestTryRead(t *testing.T) {
	c, peer := pair(t)
	r := nonblock.NewReader(c)
	if r == nil {
		t.Fatal("NewReader of a TCP connection is nil")
	}
	buf := make([]byte, 16)
	if n, err := r.TryRead(buf); n != 0 || !errors.Is(err, nonblock.ErrWouldBlock) {
		t.Fatalf("empty socket: %d, %v; want ErrWouldBlock", n, err)
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := ""
	for got != "hello" {
		n, err := r.TryRead(buf)
		if err != nil && !errors.Is(err, nonblock.ErrWouldBlock) {
			t.Fatalf("read: %v", err)
		}
		got += string(buf[:n])
	}
	peer.Close()
	for {
		_, err := r.TryRead(buf)
		if err == io.EOF {
			break
		}
		if !errors.Is(err, nonblock.ErrWouldBlock) {
			t.Fatalf("after close: %v; want io.EOF", err)
		}
	}
}

// WriteBuffers writes every buffer, in order, whatever the socket takes at
// a time: large buffers against a peer that starts reading late, so that it
// waits for room, and many small ones, more than one writev takes, in calls
// short enough to be made raw.
func TestWriteBuffers(t *testing.T) {
	var large, small [][]byte
	for i := range 2000 { // more than the socket holds
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*7919%16384)
		if i%100 == 0 {
			b = nil
		}
		large = append(large, b)
	}
	for i := range 3000 {
		small = append(small, []byte{byte('a' + i%26), byte('0' + i%10), 'x', 'y', 'z', 0, 1, 2, 3, '\n'})
	}
	for _, tc := range []struct {
		name  string
		bufs  [][]byte
		delay time.Duration // before the peer reads
	}{
		{"large", large, 20 * time.Millisecond},
		{"small", small, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t)
			w := nonblock.NewWriter(c)
			want := bytes.Join(tc.bufs, nil)
			got := make(chan []byte, 1)
			go func() {
				time.Sleep(tc.delay)
				b, _ := io.ReadAll(peer)
				got <- b
			}()
			if n, err := w.WriteBuffers(tc.bufs); err != nil || n != int64(len(want)) {
				t.Fatalf("WriteBuffers = %d, %v; want %d, nil", n, err, len(want))
			}
			if n, err := w.WriteBuffers([][]byte{nil, {}, nil}); n != 0 || err != nil {
				t.Fatalf("WriteBuffers of empty buffers = %d, %v; want 0, nil", n, err)
			}
			c.Close()
			if g := <-got; !bytes.Equal(g, want) {
				t.Fatalf("peer read %d bytes, not the %d written in order", len(g), len(want))
			}
		})
	}
}

// WriteBuffers stops at the connection's write deadline when the peer does
// not read, and fails with the socket's error once the peer has gone.
func TestWriteBuffersErrors(t *testing.T) {
	c, peer := pair(t)
	w := nonblock.NewWriter(c)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	big := [][]byte{make([]byte, 64<<20)}
	n, err := w.WriteBuffers(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= 64<<20 {
		t.Fatalf("WriteBuffers to a peer that does not read = %d, %v; want a partial write and a deadline error", n, err)
	}
	c.SetWriteDeadline(time.Time{})
	peer.(*net.TCPConn).SetLinger(0) // close with a reset
	peer.Close()
	for i := 0; ; i++ {
		_, err = w.WriteBuffers([][]byte{[]byte("x")})
		if err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("writes to a reset connection never failed")
		}
		time.Sleep(time.Millisecond)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Fatalf("write to a reset connection: %v (%T); want an *os.SyscallError", err, err)
	}
}

// Read waits for data, returns io.EOF once the peer has closed, and stops at
// the connection's read deadline.
func TestReadWaits(t *testing.T) {
	c, peer := pair(t)
	r := nonblock.NewReader(c)
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read of an idle socket = %d, %v; want a deadline error", n, err)
	}
	c.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(10 * time.Millisecond)
		peer.Write([]byte("hello"))
		peer.Close()
	}()
	if got := readToEOF(t, r, len(buf)); string(got) != "hello" {
		t.Fatalf("read %q; want hello", got)
	}
}

// readToEOF reads r until io.EOF, in reads of size bytes at most.
func readToEOF(t *testing.T, r *nonblock.Reader, size int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
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

// A socket put in blocking mode has no Reader or Writer: a raw call on it
// would block its thread unseen by the runtime. Its owner falls back to
// the net.Conn's own methods.
func TestBlockingSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the mode is checked on Linux only")
	}
	c, _ := pair(t)
	setBlocking(t, c, true)
	if w := nonblock.NewWriter(c); w != nil {
		t.Fatal("NewWriter of a socket in blocking mode; want nil")
	}
	if r := nonblock.NewReader(c); r != nil {
		t.Fatal("NewReader of a socket in blocking mode; want nil")
	}
	setBlocking(t, c, false)
	if nonblock.NewWriter(c) == nil || nonblock.NewReader(c) == nil {
		t.Fatal("no Reader or Writer for the socket back in non-blocking mode")
	}
}

// setBlocking puts nc's socket in blocking mode, or back out of it.
func setBlocking(t *testing.T, nc net.Conn, blocking bool) {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), !blocking) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
}
