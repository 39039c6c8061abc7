package gearman_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// payloadMemEnv makes the test binary run TestPlainPayloadMemory's client in
// a child process, whose memory is then its own, not the server's.
// GEARMAN_PAYLOAD_MEM_ADDR_MIB, when set, is the payload's size in MiB
// (default 48), for measurements by hand.
const payloadMemEnv = "GEARMAN_PAYLOAD_MEM_ADDR"

// A plain task (no streaming, no declared size) holds its payload until
// Close: it must hold it once, not in copies. The client runs in a child
// process against a server in this one; the child's peak Go heap above its
// baseline must stay under 1.5 times the payload, and its peak resident
// memory under twice (they were 2-3 and 4.3 times), except under the race
// detector, whose shadow memory is resident too.
func TestPlainPayloadMemory(t *testing.T) {
	if addr := os.Getenv(payloadMemEnv); addr != "" {
		plainPayloadChild(t, addr)
		return
	}
	addr := srvStart(t, &gearman.Server{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestPlainPayloadMemory$", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), payloadMemEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "MEM_") {
			got[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	size, peak := got["MEM_PAYLOAD"], got["MEM_HEAP_PEAK"]
	if size == 0 || peak == 0 {
		t.Fatalf("child reported no figures:\n%s", out)
	}
	rss := got["MEM_RSS_GROWTH"]
	t.Logf("payload %d MiB: peak heap %d MiB (%.2fx), peak resident memory %d MiB (%.2fx) above the baseline",
		size>>20, peak>>20, float64(peak)/float64(size), rss>>20, float64(rss)/float64(size))
	if raceEnabled {
		rss = 0 // the race detector's shadow memory is resident too
	}
	if peak > size*3/2 || rss > size*2 {
		t.Fatalf("a %d MiB payload took %d MiB of heap and %d MiB of resident memory; want under 1.5 and 2 times the payload",
			size>>20, peak>>20, rss>>20)
	}
}

func plainPayloadChild(t *testing.T, addr string) {
	size := int64(48 << 20)
	if mib, err := strconv.ParseInt(os.Getenv(payloadMemEnv+"_MIB"), 10, 64); err == nil {
		size = mib << 20 // for measurements by hand
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dial(t, addr, nil)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	baseRSS := procStatusKB(t, "VmRSS")
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	task, err := c.Open(ctx, gearman.Job{Func: "sink", Background: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(task, io.LimitReader(&pattern{1}, size)); err != nil {
		t.Fatal(err)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
	<-task.Done()
	if err := task.Err(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	fmt.Printf("MEM_PAYLOAD %d\nMEM_HEAP_PEAK %d\n", size, peak-base)
	fmt.Printf("MEM_RSS_GROWTH %d\n", (procStatusKB(t, "VmHWM")-baseRSS)<<10)
}

// procStatusKB returns a figure, in KiB, of this process's /proc/self/status.
func procStatusKB(t *testing.T, field string) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Skipf("no %s in /proc/self/status", field)
	return 0
}
