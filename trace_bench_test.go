package gearman_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// BenchmarkDoTraced is BenchmarkDo with a trace on both connections whose
// hooks count the packets: the cost of a trace that is set. (Unset, it is
// one nil check per packet: BenchmarkDo, against the code before traces,
// in BENCHMARKS.md.)
func BenchmarkDoTraced(b *testing.B) {
	var n atomic.Int64
	trace := &gearman.PacketTrace{
		Sent:     func(gearman.PacketInfo) { n.Add(1) },
		Received: func(gearman.PacketInfo) { n.Add(1) },
	}
	addr := peertest.Gearmand(b, "-t", "0")
	ctx := context.Background()
	w, err := gearman.Dial(ctx, addr, &gearman.Options{Trace: trace})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	if err := w.Register("echo", echoBytes, nil); err != nil {
		b.Fatal(err)
	}
	c, err := gearman.Dial(ctx, addr, &gearman.Options{Trace: trace})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	payload := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		res, err := c.Do(ctx, gearman.Job{Func: "echo", Data: payload})
		if err != nil || len(res) != len(payload) {
			b.Fatalf("%q, %v", res, err)
		}
	}
	if n.Load() == 0 {
		b.Fatal("no packet traced")
	}
}
