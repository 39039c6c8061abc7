package gearman_test

import (
	"errors"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// heapPeak samples HeapInuse until the returned stop is called, which
// returns the highest sample above the heap in use at the start. Meanwhile
// the collector runs early (GOGC 10), so the samples show what is live
// rather than garbage awaiting collection.
func heapPeak() (stop func() uint64) {
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		return peak.Load()
	}
}

// A client that submits jobs with large results and never reads is cut
// once its unsent output would pass the server's limit (twice
// MaxPacketSize plus 16 MiB): the server holds no more than that for it
// (results go to its output by reference, never copied into one growing
// buffer), and every other connection is served meanwhile.
func TestServerNonReaderMemoryBounded(t *testing.T) {
	const maxPacket = 8 << 20
	const limit = 2*maxPacket + 16<<20
	addr := srvStart(t, &gearman.Server{MaxPacketSize: maxPacket})
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "big")
	srvSync(w)
	other := wiretest.Dial(t, addr)
	srvSync(other)
	result := make([]byte, maxPacket-1024)
	pkt := make([]byte, 0, maxPacket)

	peak := heapPeak()
	hog, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	const jobs = 16 // 128 MiB of results: four times the limit
	var req []byte
	for range jobs {
		req, _ = wire.AppendPacket(req, wire.Req, wire.SubmitJob, []byte("big"), nil, []byte("x"))
	}
	if _, err := hog.Write(req); err != nil {
		t.Fatal(err)
	}
	srvSync(other)

	// Meanwhile another connection's echoes keep coming.
	echoes := make(chan error, 1)
	stopEcho := make(chan struct{})
	go func() {
		defer close(echoes)
		for {
			select {
			case <-stopEcho:
				return
			default:
			}
			other.C.SetDeadline(time.Now().Add(wiretest.Timeout))
			raw, _ := wire.AppendPacket(nil, wire.Req, wire.EchoReq, []byte("ping"))
			if _, err := other.C.Write(raw); err != nil {
				echoes <- err
				return
			}
			if _, err := io.ReadFull(other.C, make([]byte, len(raw))); err != nil {
				echoes <- err
				return
			}
		}
	}()

	done := 0
	for {
		w.Send(wire.GrabJob)
		p := w.Next()
		if p.Type == wire.NoJob && done == 0 {
			time.Sleep(5 * time.Millisecond) // the submits are on their way
			continue
		}
		if p.Type == wire.NoJob {
			break
		}
		if p.Type != wire.JobAssign {
			t.Fatalf("worker got %v", p)
		}
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.WorkComplete, []byte(p.Args[0]), result)
		w.C.SetWriteDeadline(time.Now().Add(wiretest.Timeout))
		if _, err := w.C.Write(pkt); err != nil {
			t.Fatal(err)
		}
		done++
	}
	close(stopEcho)
	if err := <-echoes; err != nil {
		t.Errorf("echo on another connection while the non-reader was served: %v", err)
	}
	got := peak()
	if done == jobs {
		t.Errorf("the worker ran all %d jobs: the non-reader was never cut", jobs)
	}
	// The hog is closed: what it reads ends.
	hog.SetReadDeadline(time.Now().Add(wiretest.Timeout))
	if _, err := io.Copy(io.Discard, hog); err != nil && !isConnReset(err) {
		t.Errorf("the non-reader's connection did not end: %v", err)
	}
	// The limit (four results held by reference), the results being read
	// meanwhile, and room for garbage between collections; the server
	// that copied results into one growing buffer reached 143 MiB here.
	if bound := uint64(limit + 6*maxPacket); got > bound {
		t.Errorf("heap grew by %d MiB for one non-reader; want at most %d MiB", got>>20, bound>>20)
	}
	t.Logf("jobs run %d of %d; heap peak +%d MiB", done, jobs, got>>20)
}

// isConnReset reports whether err is a connection reset by the peer.
func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
