package gearman_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// BenchmarkGroup100k runs 100,000 small jobs through one Pool, as a Group
// and one by one with Do, against the C gearmand (-t 0) and this package's
// Server (in this process), with a worker pool of 64 slots in this process.
// Run one of them with
//
//	go test -run '^$' -bench 'Group100k/ours/group' -benchtime 1x
//
// jobs/s is the figure to compare. go test -count runs each sub-benchmark
// N times in a row, not in turn: BENCHMARKS.md compares group and do in
// alternating pairs of processes, with the commands it used.
func BenchmarkGroup100k(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"gearmand", func(b *testing.B) string { return peertest.Gearmand(b, "-t", "0") }},
		{"ours", func(b *testing.B) string { return srvStart(b, &gearman.Server{}) }},
	}
	const n = 100_000
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			addr := srv.start(b)
			pools := func(b *testing.B) *gearman.Pool {
				opts := &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 64}}
				workers, err := gearman.NewPool([]string{addr}, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { workers.Close() })
				workers.Register("echo", echoBytes, nil)
				clients, err := gearman.NewPool([]string{addr}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { clients.Close() })
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := clients.Do(ctx, gearman.Job{Func: "echo", Data: []byte("warm")}); err != nil {
					b.Fatal(err)
				}
				return clients
			}
			jobs := func(yield func(gearman.Job) bool) {
				for i := range n {
					if !yield(gearman.Job{Func: "echo", Data: []byte("job-" + strconv.Itoa(i))}) {
						return
					}
				}
			}
			b.Run("group", func(b *testing.B) {
				clients := pools(b)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					g := gearman.NewGroup(ctx, clients, jobs, nil)
					for _, r := range g.Results() {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "jobs/s")
			})
			b.Run("do", func(b *testing.B) {
				clients := pools(b)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for job := range jobs {
						if _, err := clients.Do(ctx, job); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "jobs/s")
			})
		})
	}
}
