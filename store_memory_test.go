package gearman_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// queueJobs queues n background jobs of 64 bytes with unique ids from
// "from" on the server at addr, pipelined, and waits for every JOB_CREATED.
func queueJobs(t *testing.T, addr string, from, n int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	errc := make(chan error, 1)
	go func() {
		r := wire.NewReader(nc)
		for range n {
			p, err := r.Next()
			if err == nil && p.Type != wire.JobCreated {
				err = fmt.Errorf("got %v", p.Type)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	w := bufio.NewWriterSize(nc, 64<<10)
	data := make([]byte, 64)
	var pkt []byte
	for i := from; i < from+n; i++ {
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte("mem"), fmt.Appendf(nil, "%036d", i), data)
		w.Write(pkt)
	}
	w.Flush()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitIdle waits until the only connection the server at addr has is a's
// own, so that no submitting connection's buffers are counted.
func waitIdle(t *testing.T, a *gearman.AdminClient) {
	t.Helper()
	for {
		ws, err := a.Workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// A queued job kept in the store takes no more memory than one in memory
// only. Each mode's cost per job is what n more queued jobs add to the
// live heap once n are queued: the maps are as large in both, and the
// store's fixed costs (its write buffers, at most two batches) are made
// already. Measured with no submitting connection left, a mode's figure
// varies by less than half a byte a job from run to run; the tolerance
// of one byte is that, well below any field per stored job (8 bytes, or
// 16 at the job's next size class).
func TestStoreQueuedJobMemory(t *testing.T) {
	const n = 100_000
	const tolerance = 1 // byte a job
	perJob := func(store bool) float64 {
		s := &gearman.Server{}
		if store {
			st, err := gearman.OpenStore(t.Context(), "file:"+t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Store = st
		}
		addr := srvStart(t, s)
		defer s.Close()
		a, err := gearman.DialAdmin(t.Context(), addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		queueJobs(t, addr, 0, n)
		waitIdle(t, a)
		before := heapInUse()
		queueJobs(t, addr, n, n)
		waitIdle(t, a)
		after := heapInUse()
		return float64(after-before) / n
	}
	mem, stored := perJob(false), perJob(true)
	t.Logf("live heap per queued job: %.1f bytes in memory only, %.1f with the store", mem, stored)
	if stored > mem+tolerance {
		t.Errorf("a stored job takes %.1f bytes of heap; one in memory only %.1f", stored, mem)
	}
}
