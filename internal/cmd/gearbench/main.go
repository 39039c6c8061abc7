// Command gearbench is a Gearman round-trip benchmark of this module's client
// and worker, shaped like ../shared/peers/gobench (same flags where they
// mean the same, same one-line output) so that its figures sit in the same
// table as gobench's raw client and worker.
//
// It starts -workers worker connections (each running -maxjobs jobs at a
// time) that register an echo function, then -clients concurrent submitters
// run -jobs foreground jobs of -size bytes in total, after -warmup unmeasured
// ones, and prints jobs/s, MiB/s and p50/p90/p99/max round-trip latency
// (submit to the whole result read). Every result is compared with its
// payload.
//
// The submitters share -conns client connections (submitter i uses
// connection i mod K). The default, -conns equal to -clients, is gobench's
// shape: one connection and one job in flight each. -conns 1 pipelines every
// job on one connection.
//
// By default a job is Conn.Submit then Task.Result, served by a
// BytesHandler; with -do it is Conn.Do; with -stream it is Conn.Open, Write,
// Close and reading the task to its end, served by a HandlerFunc that copies
// the task to itself (the payload streams back as WORK_DATA).
//
//	go run ./internal/cmd/gearbench -addr 127.0.0.1:4730 -clients 16 -conns 1
//
// The output line also gives allocs/job and B/job: heap allocations of the
// whole process (client and worker) during the measured phase, per job.
// Every run is bounded by -timeout; on expiry it prints what it has and
// exits 2, as it does when any job failed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman"
)

var (
	addr       = flag.String("addr", "127.0.0.1:4730", "job server address (loopback only)")
	nWorkers   = flag.Int("workers", 4, "number of worker connections")
	maxJobs    = flag.Int("maxjobs", 1, "jobs each worker connection runs at once (Options.MaxJobs)")
	workerImpl = flag.String("worker", "ours", "worker implementation: ours | none (use external workers)")
	nClients   = flag.Int("clients", 1, "concurrent submitters, one job in flight each")
	nConns     = flag.Int("conns", 0, "client connections the submitters share (0: one per submitter; 1: all pipelined on one)")
	nJobs      = flag.Int("jobs", 10000, "measured jobs (in total, across submitters)")
	size       = flag.Int("size", 64, "payload size in bytes")
	warmup     = flag.Int("warmup", 100, "unmeasured warm-up jobs, run before the measured ones")
	fn         = flag.String("func", "echo", "function name")
	stream     = flag.Bool("stream", false, "use Open/Write/Close/Read and a streaming handler instead of Submit/Result and a BytesHandler")
	do         = flag.Bool("do", false, "use Conn.Do instead of Submit/Result")
	unique     = flag.Bool("unique", false, "give every job a unique id, as gobench's raw client does (gearmand makes one up for a job that has none); not with -stream")
	taskBuffer = flag.Int("taskbuffer", 0, "Options.TaskBuffer of every connection (0: the default)")
	timeout    = flag.Duration("timeout", 120*time.Second, "overall deadline for the run")
	jobTimeout = flag.Duration("job-timeout", 30*time.Second, "per-job deadline")
	label      = flag.String("label", "", "free text printed with the result")
	verify     = flag.Bool("verify", true, "check that every result equals its payload")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the measured phase to this file")
	traceFile  = flag.String("trace", "", "write an execution trace of the measured phase to this file (go tool trace)")
	memProfile = flag.String("memprofile", "", "write an allocation profile of the measured phase to this file")
	serveFor   = flag.Duration("serve-worker", 0, "only run the -workers workers for this long, then exit (as gobench's flag): to measure a client and a worker in separate processes")
)

func main() {
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fatalf("bad -addr: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fatalf("refusing non-loopback address %q", *addr)
	}
	if *nClients < 1 || *nJobs < 1 || *size < 0 || *nWorkers < 0 {
		fatalf("-clients and -jobs must be positive, -size and -workers not negative")
	}
	if *unique && *stream {
		fatalf("-unique and -stream do not go together: a job with a unique id is not streamed")
	}
	if *nConns <= 0 || *nConns > *nClients {
		*nConns = *nClients
	}
	deadline := time.Now().Add(*timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		time.Sleep(*timeout + 5*time.Second)
		fmt.Fprintln(os.Stderr, "gearbench: hard deadline reached, exiting")
		os.Exit(2)
	}()
	if *memProfile != "" {
		runtime.MemProfileRate = 4096
	}

	opts := &gearman.Options{TaskBuffer: *taskBuffer, MaxJobs: *maxJobs}
	var workerErrs atomic.Int64
	workers := startWorkers(ctx, opts, &workerErrs)
	if *serveFor > 0 {
		fmt.Printf("gearbench worker x%d serving %s on %s for %v\n", len(workers), *fn, *addr, *serveFor)
		if *cpuProfile != "" {
			startCPUProfile()
			defer pprof.StopCPUProfile()
		}
		if *traceFile != "" {
			startTrace()
			defer trace.Stop()
		}
		time.Sleep(*serveFor)
		for _, w := range workers {
			w.Close()
		}
		return
	}

	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	// Connect every client first, so connection set-up is not measured.
	conns := make([]*gearman.Conn, *nConns)
	for i := range conns {
		c, err := gearman.Dial(ctx, *addr, opts)
		if err != nil {
			fatalf("client %d connect: %v", i, err)
		}
		conns[i] = c
	}

	if *warmup > 0 {
		r := runJobs(ctx, conns, *warmup, payload)
		if r.errors > 0 {
			fmt.Fprintf(os.Stderr, "gearbench: %d warm-up errors (first: %v)\n", r.errors, r.firstErr)
		}
	}
	if *cpuProfile != "" {
		startCPUProfile()
	}
	if *traceFile != "" {
		startTrace()
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := runJobs(ctx, conns, *nJobs, payload)
	runtime.ReadMemStats(&after)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		trace.Stop()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			fatalf("memprofile: %v", err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fatalf("memprofile: %v", err)
		}
		f.Close()
	}
	r.allocs = after.Mallocs - before.Mallocs
	r.bytes = after.TotalAlloc - before.TotalAlloc

	var clientErrs int64
	for _, c := range conns {
		if c.Err() != nil {
			clientErrs++
		}
		c.Close()
	}
	for _, w := range workers {
		if w.Err() != nil {
			workerErrs.Add(1)
		}
		w.Close()
	}
	report(r, workerErrs.Load(), clientErrs)
	if r.errors > 0 || r.timedOut || workerErrs.Load() > 0 || clientErrs > 0 {
		os.Exit(2)
	}
}

// startCPUProfile starts writing a CPU profile to -cpuprofile.
func startCPUProfile() {
	f, err := os.Create(*cpuProfile)
	if err != nil {
		fatalf("cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatalf("cpuprofile: %v", err)
	}
}

// startTrace starts writing an execution trace to -trace.
func startTrace() {
	f, err := os.Create(*traceFile)
	if err != nil {
		fatalf("trace: %v", err)
	}
	if err := trace.Start(f); err != nil {
		fatalf("trace: %v", err)
	}
}

// startWorkers dials the worker connections and registers the echo function
// on each.
func startWorkers(ctx context.Context, opts *gearman.Options, errs *atomic.Int64) []*gearman.Conn {
	switch *workerImpl {
	case "none":
		return nil
	case "ours":
	default:
		fatalf("unknown -worker %q", *workerImpl)
	}
	var h gearman.Handler
	if *stream {
		h = gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
			_, err := io.Copy(t, t)
			if err != nil {
				errs.Add(1)
			}
			return err
		})
	} else {
		h = gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) { return p, nil })
	}
	ws := make([]*gearman.Conn, *nWorkers)
	for i := range ws {
		w, err := gearman.Dial(ctx, *addr, opts)
		if err != nil {
			fatalf("worker %d connect: %v", i, err)
		}
		if err := w.Register(*fn, h, nil); err != nil {
			fatalf("worker %d register: %v", i, err)
		}
		ws[i] = w
	}
	return ws
}

type result struct {
	lat      []time.Duration
	errors   int64
	firstErr error
	elapsed  time.Duration
	timedOut bool
	allocs   uint64
	bytes    uint64
}

// runJobs runs jobs jobs with *nClients submitters over conns and gathers
// their latencies.
func runJobs(ctx context.Context, conns []*gearman.Conn, jobs int, payload []byte) result {
	var next, errs, seq atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, *nClients)
	var wg sync.WaitGroup
	start := time.Now()
	for ci := range *nClients {
		c := conns[ci%len(conns)]
		lats[ci] = make([]time.Duration, 0, jobs / *nClients + 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= jobs && ctx.Err() == nil {
				t0 := time.Now()
				job := gearman.Job{Func: *fn, Data: payload}
				if *unique {
					job.Unique = "gearbench-" + strconv.FormatInt(seq.Add(1), 10)
				}
				if err := runJob(ctx, c, job); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					if c.Err() != nil || ctx.Err() != nil {
						return // the connection or the run has ended
					}
					continue
				}
				lats[ci] = append(lats[ci], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	r := result{elapsed: time.Since(start), errors: errs.Load(), timedOut: ctx.Err() != nil}
	if e := firstErr.Load(); e != nil {
		r.firstErr = e.(error)
	}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	return r
}

// runJob runs one job and checks its result.
func runJob(ctx context.Context, c *gearman.Conn, job gearman.Job) error {
	payload := job.Data
	ctx, cancel := context.WithTimeout(ctx, *jobTimeout)
	defer cancel()
	var data []byte
	if *stream {
		t, err := c.Open(ctx, gearman.Job{Func: job.Func})
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		if _, err := t.Write(payload); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := t.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		if data, err = io.ReadAll(t); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	} else if *do {
		var err error
		if data, err = c.Do(ctx, job); err != nil {
			return fmt.Errorf("do: %w", err)
		}
	} else {
		t, err := c.Submit(ctx, job)
		if err != nil {
			return fmt.Errorf("submit: %w", err)
		}
		if data, err = t.Result(ctx); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if *verify && !bytes.Equal(data, payload) {
		return errors.New("result mismatch: got " + fmt.Sprint(len(data)) + " bytes, want " + fmt.Sprint(len(payload)))
	}
	return nil
}

// report prints the one result line, gobench's format plus conns, mode and
// allocations per job.
func report(r result, workerErrs, clientErrs int64) {
	slices.Sort(r.lat)
	pct := func(p float64) string {
		if len(r.lat) == 0 {
			return "-"
		}
		return fmtDur(r.lat[int(p*float64(len(r.lat)-1))])
	}
	ok := len(r.lat)
	secs := r.elapsed.Seconds()
	jps := float64(ok) / secs
	mbps := jps * float64(*size) / (1 << 20)
	mode := "submit"
	if *do {
		mode = "do"
	}
	if *stream {
		mode = "stream"
	}
	perJob := func(n uint64) string {
		if ok == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(n)/float64(ok))
	}
	fmt.Printf("gearbench %s addr=%s client=ours worker=%s mode=%s workers=%d maxjobs=%d clients=%d conns=%d jobs=%d size=%d ok=%d errors=%d elapsed=%.3fs jobs/s=%.1f MiB/s=%.1f p50=%s p90=%s p99=%s max=%s worker_errs=%d client_errs=%d allocs/job=%s B/job=%s%s\n",
		*label, *addr, *workerImpl, mode, *nWorkers, *maxJobs, *nClients, *nConns, *nJobs, *size, ok, r.errors, secs, jps, mbps,
		pct(0.50), pct(0.90), pct(0.99), pct(1.0), workerErrs, clientErrs, perJob(r.allocs), perJob(r.bytes), timedOutNote(r))
	if r.firstErr != nil {
		fmt.Printf("  first error: %v\n", r.firstErr)
	}
}

func timedOutNote(r result) string {
	if r.timedOut {
		return " TIMED_OUT"
	}
	return ""
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000)
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "gearbench: "+format+"\n", a...)
	os.Exit(1)
}
