package gearman_test

import (
	"bufio"
	"fmt"
	"net"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/wire"
)

// BenchmarkServerStatusUnique measures a GET_STATUS_UNIQUE round trip on a
// server holding one background job under each of 200,000 functions (the
// lookup used to look under every function: 22-30 ms a request), ours and
// the C gearmand side by side:
//
//	go test -run '^$' -bench ServerStatusUnique -benchtime 2000x
func BenchmarkServerStatusUnique(b *testing.B) {
	const funcs = 200_000
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"ours", func(b *testing.B) string { return srvStart(b, &gearman.Server{}) }},
		{"gearmand", func(b *testing.B) string { return peertest.Gearmand(b, "-t", "0") }},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			nc, err := net.Dial("tcp", srv.start(b))
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			r, w := wire.NewReader(nc), bufio.NewWriterSize(nc, 64<<10)
			errc := make(chan error, 1)
			go func() {
				for range funcs {
					if p, err := r.Next(); err != nil || p.Type != wire.JobCreated {
						errc <- fmt.Errorf("got %v, %v; want JOB_CREATED", p.Type, err)
						return
					}
				}
				errc <- nil
			}()
			var pkt []byte
			for i := range funcs {
				pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, fmt.Appendf(nil, "f%d", i), fmt.Appendf(nil, "u%d", i), nil)
				w.Write(pkt)
			}
			w.Flush()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				u := fmt.Appendf(nil, "u%d", i*7919%funcs)
				i++
				pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.GetStatusUnique, u)
				if _, err := nc.Write(pkt); err != nil {
					b.Fatal(err)
				}
				p, err := r.Next()
				if err != nil || p.Type != wire.StatusResUnique || string(p.Args[1]) != "1" {
					b.Fatalf("got %v %q, %v; want a known job", p.Type, p.Args, err)
				}
			}
		})
	}
}
