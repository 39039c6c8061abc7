// Command storecmp measures candidate embedded stores for the job server's
// background jobs (issue 16) on the job server's workload: durable submits
// from G concurrent submitters, batched finishes, replay of all live jobs
// into memory, and the space left on disk after every job is finished.
//
// It is a nested module so that the main module does not gain the
// candidates' dependencies. Each operation runs in its own process, so the
// peak RSS it prints (VmHWM) belongs to that operation alone:
//
//	go build -o /tmp/storecmp .
//	/tmp/storecmp -engine pebble -dir /work/tmp/sc -op submit -g 16 -d 10s
//	/tmp/storecmp -engine pebble -dir /work/tmp/sc -op load -n 1000000
//	/tmp/storecmp -engine pebble -dir /work/tmp/sc -op replay
//	/tmp/storecmp -engine pebble -dir /work/tmp/sc -op finish -n 1000000
//	/tmp/storecmp -engine pebble -dir /work/tmp/sc -op churn -n 2000000 -live 10000
//
// Engines: bbolt, pebble, sqlite (modernc.org/sqlite, WAL,
// synchronous=FULL) and log (a minimal segmented append-only log of
// checksummed records with group commit, in log.go); log-prealloc is the
// same log writing into segments zero-filled when begun.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Job is a background job as the job server keeps it in memory.
type Job struct {
	Handle   uint64
	Priority uint8
	Retries  uint32
	Created  int64
	Epoch    int64
	When     int64
	Func     string
	Unique   string
	Payload  []byte
}

// recordLen is the encoded size of the benchmark's job: 8-byte function
// name, 36-byte unique id, 64-byte payload.
const recordLen = 8 + 1 + 4 + 8 + 8 + 8 + 2 + 8 + 2 + 36 + 4 + 64

// appendJob encodes j (about 150 bytes for the benchmark's job).
func appendJob(b []byte, j *Job) []byte {
	b = binary.BigEndian.AppendUint64(b, j.Handle)
	b = append(b, j.Priority)
	b = binary.BigEndian.AppendUint32(b, j.Retries)
	b = binary.BigEndian.AppendUint64(b, uint64(j.Created))
	b = binary.BigEndian.AppendUint64(b, uint64(j.Epoch))
	b = binary.BigEndian.AppendUint64(b, uint64(j.When))
	b = binary.BigEndian.AppendUint16(b, uint16(len(j.Func)))
	b = append(b, j.Func...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(j.Unique)))
	b = append(b, j.Unique...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(j.Payload)))
	return append(b, j.Payload...)
}

var errShort = errors.New("storecmp: short record")

// decodeJob decodes a record made by appendJob, copying what it keeps.
func decodeJob(b []byte) (*Job, error) {
	if len(b) < 8+1+4+24+2 {
		return nil, errShort
	}
	j := &Job{
		Handle:   binary.BigEndian.Uint64(b),
		Priority: b[8],
		Retries:  binary.BigEndian.Uint32(b[9:]),
		Created:  int64(binary.BigEndian.Uint64(b[13:])),
		Epoch:    int64(binary.BigEndian.Uint64(b[21:])),
		When:     int64(binary.BigEndian.Uint64(b[29:])),
	}
	b = b[37:]
	str := func() (string, bool) {
		if len(b) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return "", false
		}
		s := string(b[2 : 2+n])
		b = b[2+n:]
		return s, true
	}
	var ok bool
	if j.Func, ok = str(); !ok {
		return nil, errShort
	}
	if j.Unique, ok = str(); !ok {
		return nil, errShort
	}
	if len(b) < 4 {
		return nil, errShort
	}
	n := int(binary.BigEndian.Uint32(b))
	if len(b) < 4+n {
		return nil, errShort
	}
	j.Payload = slices.Clone(b[4 : 4+n])
	return j, nil
}

// makeJob is the benchmark's job number h: its payload and unique id are
// random bytes (seeded by h), so that no engine gains by compressing them.
func makeJob(h uint64) *Job {
	r := rand.New(rand.NewPCG(h, 749))
	p := make([]byte, 64)
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	return &Job{
		Handle:   h,
		Priority: 1,
		Created:  time.Now().UnixNano(),
		Func:     "reverse1",
		Unique: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(r.Uint64()), uint16(r.Uint64()),
			r.Uint64()&0xfff, r.Uint64()&0xfff, r.Uint64()&0xffffffffffff),
		Payload: p,
	}
}

// Store is what each candidate provides.
type Store interface {
	// Put stores rec under h and returns once it is durable (fsync'd).
	// Safe for concurrent use.
	Put(ctx context.Context, h uint64, rec []byte) error
	// Finish removes the jobs hs in one group, without waiting for a
	// sync of its own; Close makes every finish durable.
	Finish(hs []uint64) error
	// Load stores recs in one durable group (to fill the store fast).
	Load(hs []uint64, recs [][]byte) error
	// Replay calls put for every job stored, and finish for a job put
	// earlier in the replay and finished later (only the log does that):
	// a map kept by the caller ends with the live jobs. rec is valid only
	// during the call.
	Replay(put func(h uint64, rec []byte) error, finish func(h uint64)) error
	Close() error
}

func open(engine, dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch engine {
	case "bbolt":
		return openBolt(dir)
	case "pebble":
		return openPebble(dir)
	case "sqlite":
		return openSQLite(dir)
	case "log":
		return openLog(dir, false)
	case "log-prealloc":
		return openLog(dir, true)
	}
	return nil, fmt.Errorf("storecmp: unknown engine %q", engine)
}

func main() {
	engine := flag.String("engine", "log", "bbolt, pebble, sqlite, log or log-prealloc")
	dir := flag.String("dir", "/work/tmp/storecmp", "store directory (removed first by submit and load)")
	op := flag.String("op", "submit", "submit, load, replay, finish or churn")
	g := flag.Int("g", 16, "submit: concurrent submitters")
	d := flag.Duration("d", 10*time.Second, "submit: how long to submit")
	n := flag.Int("n", 1000000, "load and finish: jobs")
	batch := flag.Int("batch", 1000, "load and finish: jobs per group")
	flag.DurationVar(&boltDelay, "bolt-delay", 0, "bbolt: DB.MaxBatchDelay (0: bbolt's default, 10ms)")
	idle := flag.Duration("idle", 10*time.Second, "finish: idle time on a reopened store before its size is taken again")
	live := flag.Int("live", 10000, "churn: jobs left live, each finished after this many more were put")
	flag.Parse()
	if err := run(*engine, *dir, *op, *g, *d, *n, *batch, *idle, *live); err != nil {
		fmt.Fprintln(os.Stderr, "storecmp:", err)
		os.Exit(1)
	}
}

func run(engine, dir, op string, g int, d time.Duration, n, batch int, idle time.Duration, live int) error {
	switch op {
	case "submit":
		return submit(engine, dir, g, d)
	case "load":
		return load(engine, dir, n, batch)
	case "replay":
		return replay(engine, dir)
	case "finish":
		return finish(engine, dir, n, batch, idle)
	case "churn":
		return churn(engine, dir, n, batch, live)
	}
	return fmt.Errorf("unknown op %q", op)
}

func submit(engine, dir string, g int, d time.Duration) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	s, err := open(engine, dir)
	if err != nil {
		return err
	}
	single = g == 1
	var next atomic.Uint64
	cpu0 := cpuTime()
	lat := make([][]time.Duration, g)
	errc := make(chan error, g)
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rec []byte
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				h := next.Add(1)
				rec = appendJob(rec[:0], makeJob(h))
				if err := s.Put(ctx, h, rec); err != nil {
					errc <- err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Printf("engine=%s op=submit g=%d puts=%d elapsed=%.2fs puts/s=%.0f p50=%v p99=%v max=%v cpu/put=%.1fµs size=%s\n",
		engine, g, len(all), el.Seconds(), float64(len(all))/el.Seconds(),
		pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond),
		float64(cpu.Microseconds())/float64(max(len(all), 1)), mib(dirSize(dir)))
	return nil
}

func load(engine, dir string, n, batch int) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	s, err := open(engine, dir)
	if err != nil {
		return err
	}
	start := time.Now()
	hs := make([]uint64, 0, batch)
	recs := make([][]byte, 0, batch)
	for h := uint64(1); h <= uint64(n); h++ {
		hs = append(hs, h)
		recs = append(recs, appendJob(nil, makeJob(h)))
		if len(hs) == batch || h == uint64(n) {
			if err := s.Load(hs, recs); err != nil {
				return err
			}
			hs, recs = hs[:0], recs[:0]
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("engine=%s op=load jobs=%d elapsed=%.2fs jobs/s=%.0f size=%s\n",
		engine, n, el.Seconds(), float64(n)/el.Seconds(), mib(dirSize(dir)))
	return nil
}

func replay(engine, dir string) error {
	sizeBefore := dirSize(dir)
	start := time.Now()
	s, err := open(engine, dir)
	if err != nil {
		return err
	}
	opened := time.Since(start)
	jobs := make(map[uint64]*Job)
	err = s.Replay(func(h uint64, rec []byte) error {
		j, err := decodeJob(rec)
		if err != nil {
			return fmt.Errorf("job %d: %w", h, err)
		}
		jobs[h] = j
		return nil
	}, func(h uint64) { delete(jobs, h) })
	if err != nil {
		return err
	}
	el := time.Since(start)
	hwm := vmHWM()
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Printf("engine=%s op=replay jobs=%d open=%.3fs open+replay=%.2fs size=%s vmhwm=%s\n",
		engine, len(jobs), opened.Seconds(), el.Seconds(), mib(sizeBefore), hwm)
	return nil
}

func finish(engine, dir string, n, batch int, idle time.Duration) error {
	before := dirSize(dir)
	s, err := open(engine, dir)
	if err != nil {
		return err
	}
	// As the server would at start: replay (the log builds its index).
	stored := 0
	if err := s.Replay(func(uint64, []byte) error { stored++; return nil }, func(uint64) { stored-- }); err != nil {
		return err
	}
	if stored != n {
		return fmt.Errorf("finish: %d jobs stored, want %d", stored, n)
	}
	start := time.Now()
	hs := make([]uint64, 0, batch)
	for h := uint64(1); h <= uint64(n); h++ {
		hs = append(hs, h)
		if len(hs) == batch || h == uint64(n) {
			if err := s.Finish(hs); err != nil {
				return err
			}
			hs = hs[:0]
		}
	}
	el := time.Since(start)
	running := dirSize(dir)
	// Stay open and idle: does the store reclaim space by itself?
	time.Sleep(idle)
	idleSize := dirSize(dir)
	if err := s.Close(); err != nil {
		return err
	}
	closed := dirSize(dir)
	s, err = open(engine, dir)
	if err != nil {
		return err
	}
	reopened := dirSize(dir)
	live := 0
	if err := s.Replay(func(uint64, []byte) error { live++; return nil }, func(uint64) { live-- }); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Printf("engine=%s op=finish jobs=%d elapsed=%.2fs finishes/s=%.0f size: before=%s after-finish=%s open+%v=%s after-close=%s reopened=%s live=%d\n",
		engine, n, el.Seconds(), float64(n)/el.Seconds(), mib(before), mib(running), idle, mib(idleSize), mib(closed), mib(reopened), live)
	return nil
}

// churn puts n jobs in durable groups of batch and finishes each group
// once live more have been put after it: the steady state of a server
// whose workers keep up. It prints the largest size seen and the size at
// the end.
func churn(engine, dir string, n, batch, liveJobs int) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	s, err := open(engine, dir)
	if err != nil {
		return err
	}
	if err := s.Replay(func(uint64, []byte) error { return nil }, func(uint64) {}); err != nil {
		return err
	}
	start := time.Now()
	var peak int64
	hs := make([]uint64, 0, batch)
	recs := make([][]byte, 0, batch)
	var done uint64 // finished up to here
	for h := uint64(1); h <= uint64(n); h++ {
		hs = append(hs, h)
		recs = append(recs, appendJob(nil, makeJob(h)))
		if len(hs) < batch && h != uint64(n) {
			continue
		}
		if err := s.Load(hs, recs); err != nil {
			return err
		}
		hs, recs = hs[:0], recs[:0]
		var fin []uint64
		for done+uint64(liveJobs) < h {
			done++
			fin = append(fin, done)
		}
		if err := s.Finish(fin); err != nil {
			return err
		}
		if h%uint64(100*batch) == 0 {
			peak = max(peak, dirSize(dir))
		}
	}
	el := time.Since(start)
	end := dirSize(dir)
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Printf("engine=%s op=churn jobs=%d live=%d elapsed=%.2fs jobs/s=%.0f size: peak=%s end=%s after-close=%s\n",
		engine, n, liveJobs, el.Seconds(), float64(n)/el.Seconds(), mib(max(peak, end)), mib(end), mib(dirSize(dir)))
	return nil
}

func dirSize(dir string) int64 {
	var sum int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			sum += fi.Size()
		}
		return nil
	})
	return sum
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.ReplaceAll(strings.TrimSpace(v), " ", "")
		}
	}
	return "?"
}
