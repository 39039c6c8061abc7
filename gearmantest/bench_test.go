package gearmantest_test

import (
	"context"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// BenchmarkRoundTrip pushes small foreground jobs (16 bytes each way)
// through the in-memory server and a fake worker: one at a time
// (serial), and from GOMAXPROCS goroutines at once (parallel).
func BenchmarkRoundTrip(b *testing.B) {
	payload := []byte("0123456789abcdef")
	setup := func(b *testing.B) *gearman.Pool {
		srv := gearmantest.NewServer(b)
		srv.HandleFunc("echo", func(ctx context.Context, p []byte) ([]byte, error) { return p, nil })
		return srv.Pool(nil)
	}
	run := func(b *testing.B, ctx context.Context, p *gearman.Pool) {
		task, err := p.Submit(ctx, gearman.Job{Func: "echo", Data: payload})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := task.Result(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		p := setup(b)
		ctx := b.Context()
		b.ReportAllocs()
		b.SetBytes(int64(2 * len(payload)))
		for b.Loop() {
			run(b, ctx, p)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		p := setup(b)
		ctx := b.Context()
		b.ReportAllocs()
		b.SetBytes(int64(2 * len(payload)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				run(b, ctx, p)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}
