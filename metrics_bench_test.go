package gearman_test

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// BenchmarkServerMetrics is BenchmarkSubmitParallel through this
// module's server, in this process, with metrics off and on (Handler
// called, and /metrics scraped once per 10 000 jobs), for the allocations
// and time per job that counting adds. The side-by-side throughput of
// cmd/gearmand with and without --http is bench/metrics-bench.sh's.
func BenchmarkServerMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := &gearman.Server{HandlePrefix: "H:bench"}
			var hs *httptest.Server
			if on {
				hs = httptest.NewServer(s.Handler())
				defer hs.Close()
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(l)
			defer s.Close()
			ctx := context.Background()
			w, err := gearman.Dial(ctx, l.Addr().String(), &gearman.Options{MaxJobs: 32})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if err := w.Register("echo", echoBytes, nil); err != nil {
				b.Fatal(err)
			}
			c, err := gearman.Dial(ctx, l.Addr().String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			payload := bytes.Repeat([]byte("x"), 64)
			if _, err := submit(ctx, c, payload); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					if _, err := submit(ctx, c, payload); err != nil {
						b.Error(err)
						return
					}
					if n++; hs != nil && n%10000 == 0 {
						if resp, err := hs.Client().Get(hs.URL + "/metrics"); err == nil {
							resp.Body.Close()
						}
					}
				}
			})
		})
	}
}
