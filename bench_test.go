package gearman_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// Benchmarks of the client and worker hot paths through a real C gearmand
// (-t 0, the faster setting for small jobs on a 2-core machine), started on a
// free port by peertest; they skip when gearmand is not installed (fail
// under CI=true). Run them with
//
//	go test -run '^$' -bench . -benchtime 3s
//
// The client and the worker run in this process, so allocs/op counts both
// sides of a job. The recorded figures are in BENCHMARKS.md.

// benchServer starts gearmand and a worker connection serving "echo" with h,
// MaxJobs at a time, and returns a client connection to the same server.
// Everything is closed by b.Cleanup.
func benchServer(b *testing.B, maxJobs int, h gearman.Handler) *gearman.Conn {
	b.Helper()
	addr := peertest.Gearmand(b, "-t", "0")
	ctx := context.Background()
	w, err := gearman.Dial(ctx, addr, &gearman.Options{MaxJobs: maxJobs})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	if err := w.Register("echo", h, nil); err != nil {
		b.Fatal(err)
	}
	c, err := gearman.Dial(ctx, addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	// One job end to end, so the worker is registered before timing.
	if _, err := submit(ctx, c, []byte("warm")); err != nil {
		b.Fatal(err)
	}
	return c
}

var echoBytes = gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) { return p, nil })

var echoStream = gearman.HandlerFunc(func(_ context.Context, t *gearman.Task) error {
	_, err := io.Copy(t, t)
	return err
})

// submit runs one foreground job and returns its result.
func submit(ctx context.Context, c *gearman.Conn, payload []byte) ([]byte, error) {
	t, err := c.Submit(ctx, gearman.Job{Func: "echo", Data: payload})
	if err != nil {
		return nil, err
	}
	return t.Result(ctx)
}

// BenchmarkSubmit is one 64-byte job at a time: Submit, Result, through
// gearmand to a BytesHandler worker and back (latency-bound).
func BenchmarkSubmit(b *testing.B) { benchOneAtATime(b, submit) }

// BenchmarkDo is BenchmarkSubmit with Conn.Do, which waits once per job.
func BenchmarkDo(b *testing.B) {
	benchOneAtATime(b, func(ctx context.Context, c *gearman.Conn, payload []byte) ([]byte, error) {
		return c.Do(ctx, gearman.Job{Func: "echo", Data: payload})
	})
}

// benchOneAtATime runs 64-byte echo jobs one at a time with run.
func benchOneAtATime(b *testing.B, run func(context.Context, *gearman.Conn, []byte) ([]byte, error)) {
	c := benchServer(b, 1, echoBytes)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		res, err := run(ctx, c, payload)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != len(payload) {
			b.Fatalf("result of %d bytes, want %d", len(res), len(payload))
		}
	}
}

// BenchmarkSubmitParallel pipelines 64-byte jobs on one client connection
// from 16 goroutines per CPU, served by one worker connection that runs 32
// jobs at a time.
func BenchmarkSubmitParallel(b *testing.B) {
	c := benchServer(b, 32, echoBytes)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := submit(ctx, c, payload)
			if err != nil {
				b.Error(err)
				return
			}
			if len(res) != len(payload) {
				b.Errorf("result of %d bytes, want %d", len(res), len(payload))
				return
			}
		}
	})
}

// BenchmarkStream1MiB streams a 1 MiB payload to a worker that copies it
// back as WORK_DATA: Open, Write, Close, read to the end.
func BenchmarkStream1MiB(b *testing.B) {
	c := benchServer(b, 1, echoStream)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		t, err := c.Open(ctx, gearman.Job{Func: "echo"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := t.Close(); err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, t)
		if err != nil {
			b.Fatal(err)
		}
		if n != int64(len(payload)) {
			b.Fatalf("result of %d bytes, want %d", n, len(payload))
		}
	}
}

// BenchmarkSubmit1MiB is BenchmarkStream1MiB through Submit, Result and a
// BytesHandler, which hold the whole payload and result in memory.
func BenchmarkSubmit1MiB(b *testing.B) {
	c := benchServer(b, 1, echoBytes)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		res, err := submit(ctx, c, payload)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != len(payload) {
			b.Fatalf("result of %d bytes, want %d", len(res), len(payload))
		}
	}
}
