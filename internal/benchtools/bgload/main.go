// Command bgload queues N background jobs on a job server, as fast as the
// server takes them, and waits for every JOB_CREATED: the load of the
// "memory of one million queued jobs" and "durable background submits"
// benchmarks in BENCHMARKS.md.
//
//	go run ./internal/benchtools/bgload -addr 127.0.0.1:4730 -n 1000000
//	go run ./internal/benchtools/bgload -n 200000 -conns 16 -window 64
//
// The jobs are spread evenly over -conns connections; each pipelines its
// SUBMIT_JOB_BGs, with at most -window of them waiting for their
// JOB_CREATED at once (0: no limit, the whole share written ahead). With
// -unique (the default) each job has its own 36-byte unique id, the length
// of libgearman's UUIDs, distinct across connections; -unique=false sends
// an empty one. It prints the jobs queued, the time from the first submit
// to the last JOB_CREATED, and jobs/s.
//
// With -workers K (default 0: none), K raw worker connections for -func
// (started and registered before the first submit) run the jobs as they
// come, completing each at once with an empty result, and the line also
// gives the end-to-end figures: drained= the time from the first submit
// until the server has answered past the last WORK_COMPLETE (see
// drainers), and e2e_jobs/s. The server must start with no job queued for
// -func.
//
//	go run ./internal/benchtools/bgload -n 20000 -conns 16 -workers 4
//
// -addr may list several servers, comma-separated (a cluster on one
// queue): connection i, and worker i, go to server i mod their number.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

type config struct {
	addrs   []string
	n       int
	size    int
	fn      string
	conns   int
	window  int
	unique  bool
	workers int
	timeout time.Duration
}

func main() {
	var c config
	addr := flag.String("addr", "127.0.0.1:4730", "job server, or servers comma-separated (connection and worker i go to server i mod their number)")
	flag.IntVar(&c.n, "n", 1000000, "jobs to queue, over all connections")
	flag.IntVar(&c.size, "size", 64, "payload bytes")
	flag.StringVar(&c.fn, "func", "mem", "function name")
	flag.IntVar(&c.conns, "conns", 1, "connections, each pipelining its share of the jobs")
	flag.IntVar(&c.window, "window", 0, "most submits in flight per connection (0: no limit)")
	flag.BoolVar(&c.unique, "unique", true, "a distinct 36-byte unique id per job (false: empty)")
	flag.IntVar(&c.workers, "workers", 0, "worker connections running the jobs as they come (0: none, the jobs stay queued)")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	c.addrs = strings.Split(*addr, ",")
	if c.conns < 1 || c.n < 0 || c.window < 0 || c.size < 0 || c.workers < 0 {
		fmt.Fprintln(os.Stderr, "bgload: -conns must be at least 1; -n, -window, -size and -workers not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	el, drained, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgload:", err)
		os.Exit(1)
	}
	fmt.Printf("queued=%d conns=%d window=%d unique=%v elapsed=%.2fs jobs/s=%.0f",
		c.n, c.conns, c.window, c.unique, el.Seconds(), float64(c.n)/el.Seconds())
	if c.workers > 0 {
		fmt.Printf(" workers=%d drained=%.2fs e2e_jobs/s=%.0f", c.workers, drained.Seconds(), float64(c.n)/drained.Seconds())
	}
	fmt.Println()
}

// run connects every connection (and starts the workers) first, then
// starts them together and returns the time until the last JOB_CREATED,
// and with workers the time until the last job was done.
func run(ctx context.Context, c config) (el, drained time.Duration, err error) {
	var dr *drainers
	if c.workers > 0 {
		if dr, err = startDrainers(ctx, c.addrs, c.fn, c.workers, c.n); err != nil {
			return 0, 0, err
		}
		defer func() {
			if cerr := dr.close(); err == nil {
				err = cerr
			}
		}()
	}
	var d net.Dialer
	conns := make([]net.Conn, 0, c.conns)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i := range c.conns {
		nc, err := d.DialContext(ctx, "tcp", c.addrs[i%len(c.addrs)])
		if err != nil {
			return 0, 0, err
		}
		conns = append(conns, nc)
	}
	// Closing the connections ends every blocked read and write when ctx
	// ends first.
	stop := context.AfterFunc(ctx, func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	defer stop()
	data := make([]byte, c.size)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	errs := make([]error, c.conns)
	var wg sync.WaitGroup
	for i, nc := range conns {
		// Connection i queues jobs first, first+conns, ... so that unique
		// ids are distinct across connections.
		share := c.n / c.conns
		if i < c.n%c.conns {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = submit(nc, c, data, i, share)
		}()
	}
	wg.Wait()
	el = time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	if dr != nil && c.n > 0 {
		end, err := dr.wait(ctx)
		if err != nil {
			return 0, 0, err
		}
		drained = end.Sub(start)
	}
	return el, drained, nil
}

// submit queues share jobs on nc, numbered first, first+c.conns, ..., and
// waits for their JOB_CREATED.
func submit(nc net.Conn, c config, data []byte, first, share int) error {
	var window chan struct{} // a slot per submit in flight
	if c.window > 0 {
		window = make(chan struct{}, c.window)
	}
	readErr := make(chan error, 1)
	go func() {
		r := wire.NewReader(nc)
		for i := range share {
			p, err := r.Next()
			if err != nil {
				readErr <- fmt.Errorf("%s: job %d of %d: %w", nc.LocalAddr(), i, share, err)
				return
			}
			if p.Type != wire.JobCreated {
				readErr <- fmt.Errorf("%s: job %d of %d: got %v", nc.LocalAddr(), i, share, p)
				return
			}
			if window != nil {
				<-window
			}
		}
		readErr <- nil
	}()
	w := bufio.NewWriterSize(nc, 256<<10)
	var pkt, unique []byte
	for i := range share {
		if window != nil {
			select {
			case window <- struct{}{}:
			default:
				// The window is full: send what is buffered, then wait for
				// a JOB_CREATED to free a slot.
				if err := w.Flush(); err != nil {
					return err
				}
				select {
				case window <- struct{}{}:
				case err := <-readErr:
					return readFailed(err)
				}
			}
		}
		unique = unique[:0]
		if c.unique {
			unique = fmt.Appendf(unique, "%036d", first+i*c.conns)
		}
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte(c.fn), unique, data)
		if _, err := w.Write(pkt); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return <-readErr
}

// readFailed is the reader's error, which ended before every JOB_CREATED.
func readFailed(err error) error {
	if err == nil {
		return errors.New("the server answered more submits than were sent")
	}
	return err
}
