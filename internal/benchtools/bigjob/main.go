// Command bigjob submits one large job to a job server and reports how much
// the server's peak resident memory (VmHWM of -pid, from /proc) grew: the
// large-job memory figures in BENCHMARKS.md.
//
//	-mode sized         one SUBMIT_JOB_BG packet with the payload (any server)
//	-mode stream        a streamed foreground payload, no worker at all, for
//	                    -wait at most (our server lets it block on credit)
//	-mode stream-late   a streamed background payload; a streaming worker
//	                    comes after -late and takes it
//	-mode stream-plain  a streamed background payload for a worker without
//	                    the streaming extension, which takes it whole
//
// The payload is made as it is sent: this process never holds it.
//
//	gearmand -L 127.0.0.1 -p 4730 & bigjob -addr 127.0.0.1:4730 -pid $! -mode sized -size 300
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4730", "the job server")
	pid := flag.Int("pid", 0, "the job server's process id")
	mode := flag.String("mode", "sized", "sized, stream, stream-late or stream-plain")
	size := flag.Int64("size", 300, "payload size in MiB")
	wait := flag.Duration("wait", 10*time.Second, "how long a blocked client waits (-mode stream)")
	late := flag.Duration("late", 3*time.Second, "when the streaming worker comes (-mode stream-late)")
	flag.Parse()
	if err := run(*addr, *pid, *mode, *size<<20, *wait, *late); err != nil {
		fmt.Fprintln(os.Stderr, "bigjob:", err)
		os.Exit(1)
	}
}

func run(addr string, pid int, mode string, n int64, wait, late time.Duration) error {
	before, err := peakKiB(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	switch mode {
	case "sized":
		err = sized(addr, n)
	case "stream", "stream-late", "stream-plain":
		err = stream(addr, mode, n, wait, late)
	default:
		err = fmt.Errorf("unknown -mode %q", mode)
	}
	if err != nil {
		return err
	}
	after, err := peakKiB(pid)
	if err != nil {
		return err
	}
	fmt.Printf("%s %d MiB: server peak %d MiB -> %d MiB (+%d MiB, %.2fx the payload) in %v\n",
		mode, n>>20, before>>10, after>>10, (after-before)>>10, float64((after-before)<<10)/float64(n),
		time.Since(start).Round(time.Millisecond))
	return nil
}

// sized sends one SUBMIT_JOB_BG packet of n payload bytes and waits for
// JOB_CREATED.
func sized(addr string, n int64) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	w := wire.NewWriter(nc)
	if err := w.WriteFrom(wire.Req, wire.SubmitJobBg, [][]byte{[]byte("bigjob"), nil}, n, io.LimitReader(&pattern{1}, n)); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	p, err := wire.NewReader(nc).Next()
	if err != nil {
		return err
	}
	if p.Type != wire.JobCreated {
		return fmt.Errorf("got %v; want JOB_CREATED", p)
	}
	return nil
}

// stream streams n payload bytes as -mode says.
func stream(addr, mode string, n int64, wait, late time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait+late+time.Minute)
	defer cancel()
	done := make(chan struct{}, 1)
	drain := gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
		_, err := io.Copy(io.Discard, t)
		done <- struct{}{}
		return err
	})
	worker := func(opts *gearman.Options) error {
		w, err := gearman.Dial(ctx, addr, opts)
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, func() { w.Close() })
		return w.Register("bigjob", drain, nil)
	}
	if mode == "stream-plain" {
		if err := worker(nil); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond) // registered before the job comes
	}
	if mode == "stream-late" {
		time.AfterFunc(late, func() { worker(&gearman.Options{Streaming: true}) })
	}
	c, err := gearman.Dial(ctx, addr, &gearman.Options{Streaming: true})
	if err != nil {
		return err
	}
	defer c.Close()
	tctx := ctx
	if mode == "stream" {
		var stop context.CancelFunc
		tctx, stop = context.WithTimeout(ctx, wait)
		defer stop()
	}
	t, err := c.Open(tctx, gearman.Job{Func: "bigjob", Background: mode != "stream"})
	if err != nil {
		return err
	}
	_, err = io.Copy(t, io.LimitReader(&pattern{1}, n))
	if err == nil {
		err = t.Close()
	}
	if mode == "stream" {
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Printf("no worker: the client blocked on credit until -wait ended\n")
		} else {
			fmt.Printf("no worker: the server took the payload (%v)\n", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// peakKiB returns the VmHWM of process pid in KiB.
func peakKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for process %d", pid)
}

// pattern is a deterministic, not very compressible byte stream.
type pattern struct{ x uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.x = p.x*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.x >> 56)
	}
	return len(b), nil
}
