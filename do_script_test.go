package gearman_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// heldConn holds the first Write after hold until release is closed, and
// counts the bytes read after hold.
type heldConn struct {
	net.Conn
	mu      sync.Mutex
	held    bool
	entered chan struct{} // closed when the held Write starts
	release chan struct{}
	read    atomic.Int64
}

func (h *heldConn) hold() {
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
	h.read.Store(0)
}

func (h *heldConn) Write(b []byte) (int, error) {
	h.mu.Lock()
	held := h.held
	h.held = false
	h.mu.Unlock()
	if held {
		close(h.entered)
		<-h.release
	}
	return h.Conn.Write(b)
}

func (h *heldConn) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	h.read.Add(int64(n))
	return n, err
}

// Do with a declared Size sends its whole submit before it returns from
// opening the task. A result larger than TaskBuffer that comes back while
// that write is still under way must be collected whole: nobody reads a Do
// task, so a read loop that waited for a reader would hang the connection.
func TestScriptSizedDoEarlyResult(t *testing.T) {
	hc := &heldConn{entered: make(chan struct{}), release: make(chan struct{})}
	var nd net.Dialer
	opts := &gearman.Options{TaskBuffer: 1 << 10, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := nd.DialContext(ctx, network, addr)
		hc.Conn = nc
		return hc, err
	}}
	c, p := scriptConn(t, opts, true)
	hc.hold()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	ctx := testCtx(t)
	go func() {
		data, err := c.Do(ctx, gearman.Job{Func: "f", Data: []byte("0123456789"), Size: 10})
		done <- result{data, err}
	}()
	recv(t, hc.entered) // the submit is pending, its write held
	big := strings.Repeat("x", 4<<10)
	p.Send(wire.JobCreated, "H:1")
	p.Send(wire.WorkComplete, "H:1", big)
	want := int64(2*12 + len("H:1") + len("H:1\x00") + len(big))
	for deadline := time.Now().Add(10 * time.Second); hc.read.Load() < want; {
		if time.Now().After(deadline) {
			t.Fatalf("the connection read %d of %d bytes", hc.read.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	close(hc.release)
	p.Expect(wire.SubmitJob)
	r := recv(t, done)
	if r.err != nil || string(r.data) != big {
		t.Fatalf("Do: %d bytes, %v; want %d bytes", len(r.data), r.err, len(big))
	}
}
