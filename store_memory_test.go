package gearman_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// queueJobs queues n background jobs of 64 bytes with unique ids on the
// server at addr, pipelined, and waits for every JOB_CREATED.
func queueJobs(t *testing.T, addr string, n int) {
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
	for i := range n {
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

// A queued job kept in the store takes no more memory than one in memory
// only.
func TestStoreQueuedJobMemory(t *testing.T) {
	const n = 100_000
	perJob := func(store bool) float64 {
		s := &gearman.Server{}
		if store {
			st, err := gearman.OpenStore(t.Context(), "file:"+t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Store = st
		}
		before := heapInUse()
		addr := srvStart(t, s)
		queueJobs(t, addr, n)
		after := heapInUse()
		s.Close()
		return float64(after-before) / n
	}
	mem, stored := perJob(false), perJob(true)
	t.Logf("live heap per queued job: %.0f bytes in memory only, %.0f with the store", mem, stored)
	if stored > mem*1.05+16 {
		t.Errorf("a stored job takes %.0f bytes of heap; one in memory only %.0f", stored, mem)
	}
}
