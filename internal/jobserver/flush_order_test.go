package jobserver

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// Output for one connection keeps its order and framing when one goroutine
// flushes it without waiting (tryFlush, as a reader does for the
// connections its request gave output) while another queues large data by
// reference (sendRef, as an assignment does): the part of a packet that a
// full socket did not take must still go before the later packets, which
// sendRef may have moved out of the queue the rest returns to.
func TestFlushKeepsOrder(t *testing.T) {
	peer, nc := wiretest.Pair(t, "tcp", "127.0.0.1:0")
	// Small socket buffers: partial writes come often.
	nc.(*net.TCPConn).SetWriteBuffer(64 << 10)
	peer.(*net.TCPConn).SetReadBuffer(64 << 10)
	c := &conn{s: New(Config{}), nc: nc, wake: make(chan struct{}, 1), writerEnd: make(chan struct{})}
	if c.raw = nonblock.NewWriter(nc); c.raw == nil {
		t.Skip("no non-blocking system calls on this platform")
	}
	go c.writeLoop()

	var order sync.Mutex // plays Server.mu: packets are numbered as queued
	var seq uint64
	next := func() []byte {
		seq++
		return strconv.AppendUint(nil, seq, 10)
	}
	small := bytes.Repeat([]byte("s"), 6000)
	big := bytes.Repeat([]byte("B"), wire.LargeData+10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	repeat := func(step func()) { // until stop closes
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					step()
				}
			}
		}()
	}
	repeat(func() { // a reader sending to c, then flushing it
		c.outMu.Lock()
		backlog := len(c.out)+c.vecLen > 1<<20
		c.outMu.Unlock()
		if backlog {
			time.Sleep(100 * time.Microsecond)
			return
		}
		order.Lock()
		c.outMu.Lock()
		c.out, _ = wire.AppendPacket(c.out, wire.Res, wire.WorkData, next(), small)
		c.outMu.Unlock()
		order.Unlock()
		c.tryFlush()
	})
	repeat(func() { // another reader assigning c a large job
		order.Lock()
		c.sendRef(wire.Res, wire.JobAssign, next(), []byte("f"), big)
		order.Unlock()
		time.Sleep(200 * time.Microsecond)
	})
	defer func() {
		close(stop)
		wg.Wait()
		c.endOutput()
		nc.Close()
		<-c.writerEnd
	}()
	rd := wire.NewReader(peer)
	var last uint64
	for n := 0; n < 40000; n++ {
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d packets in order: %v", n, err)
		}
		got, _ := strconv.ParseUint(string(p.Arg(0)), 10, 64)
		if got != last+1 {
			t.Fatalf("after %d packets: packet %d (%v) follows %d", n, got, p.Type, last)
		}
		last = got
	}
}
