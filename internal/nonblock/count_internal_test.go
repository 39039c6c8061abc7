package nonblock

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/wiretest"
)

// Waiting is done in the network poller: a Read and a WriteBuffers that
// wait 100 ms make a few system calls in that time, not a busy loop's
// thousands.
func TestWaitsWithoutSpinning(t *testing.T) {
	c, peer := wiretest.Pair(t, "tcp", "127.0.0.1:0")
	r, w := NewReader(c), NewWriter(c)
	if r == nil {
		t.Skip("no non-blocking system calls on this platform")
	}
	var reads, writes atomic.Int64
	rf, wf := r.fn, w.fn
	r.fn = func(fd uintptr) bool { reads.Add(1); return rf(fd) }
	w.fn = func(fd uintptr) bool { writes.Add(1); return wf(fd) }

	done := make(chan error, 2)
	go func() {
		_, err := r.Read(make([]byte, 16))
		done <- err
	}()
	big := make([]byte, 64<<20) // more than the socket holds
	go func() {
		_, err := w.WriteBuffers([][]byte{big})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if n := reads.Load(); n > 10 {
		t.Errorf("a Read waiting 100 ms made %d read calls", n)
	}
	if n := writes.Load(); n > 10 {
		t.Errorf("a WriteBuffers waiting 100 ms for room made %d write calls", n)
	}
	peer.Write([]byte("x"))
	go io.Copy(io.Discard, peer)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
