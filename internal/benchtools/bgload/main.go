// Command bgload queues N background jobs on a job server, as fast as the
// server takes them, and waits for every JOB_CREATED: the load of the
// "memory of one million queued jobs" benchmark in BENCHMARKS.md.
//
//	go run ./internal/benchtools/bgload -addr 127.0.0.1:4730 -n 1000000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4730", "job server")
	n := flag.Int("n", 1000000, "jobs to queue")
	size := flag.Int("size", 64, "payload bytes")
	fn := flag.String("func", "mem", "function name")
	flag.Parse()
	c, err := net.Dial("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		r := wire.NewReader(c)
		for i := 0; i < *n; i++ {
			p, err := r.Next()
			if err != nil {
				errc <- err
				return
			}
			if p.Type != wire.JobCreated {
				errc <- fmt.Errorf("job %d: got %v", i, p)
				return
			}
		}
		errc <- nil
	}()
	w := bufio.NewWriterSize(c, 256<<10)
	data := make([]byte, *size)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	var pkt []byte
	for i := 0; i < *n; i++ {
		unique := fmt.Appendf(nil, "%036d", i) // the length of libgearman's UUIDs
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte(*fn), unique, data)
		if _, err := w.Write(pkt); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	w.Flush()
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	el := time.Since(start)
	fmt.Printf("queued=%d elapsed=%.2fs submits/s=%.0f\n", *n, el.Seconds(), float64(*n)/el.Seconds())
}
