package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// Streamed tasks cancelled at any moment (before, while and after their
// payload goes) never break the extension's rules: the server never answers
// STREAM_ERROR, the connections stay up, and every task that was not
// cancelled gets its result.
func TestStreamCancelledTasks(t *testing.T) {
	c1, _ := streamPair(t)
	c2, _ := streamPair(t)
	conns := []*gearman.Conn{c1, c2}
	// 900 jobs, 300 of them 150 KiB streams, take about 5 s under -race
	// on two idle cores and four times that on a loaded machine: a
	// deadline of its own, so that only a hang fails the test.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	small := []byte("payload")
	big := bytes.Repeat([]byte("b"), 150<<10) // SUBMIT_STREAM, then STREAM_DATA
	var wg sync.WaitGroup
	errc := make(chan error, 6)
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 150 {
				c := conns[(g+i)%2]
				data := small
				if i%3 == 0 {
					data = big
				}
				jctx, cancel := context.WithCancel(ctx)
				cancelled := rng.IntN(10) == 0
				if cancelled {
					time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, cancel)
				}
				got, err := c.Do(jctx, gearman.Job{Func: "up", Data: data})
				cancel()
				switch {
				case err == nil && !bytes.Equal(got, bytes.ToUpper(data)):
					errc <- fmt.Errorf("goroutine %d job %d: %d bytes back, want %d", g, i, len(got), len(data))
					return
				case err != nil && !(cancelled && errors.Is(err, context.Canceled)):
					errc <- fmt.Errorf("goroutine %d job %d (cancelled %v): %w", g, i, cancelled, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for i, c := range conns {
		if _, err := c.Echo(ctx, []byte("up")); err != nil {
			t.Errorf("connection %d after the cancellations: %v", i, err)
		}
	}
}

// A background stream task's payload Write that waits for credit (no
// worker has the job, so none comes past the first window) returns its
// context's error when the context ends, and the server drops the job
// whose payload will not complete. The task is done once the server has
// created the job (JOB_CREATED, after the first chunk), and its context
// used to be forgotten then: the Write blocked for good.
func TestStreamBackgroundWriteCancelled(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	c := dial(t, addr, &gearman.Options{Streaming: true})
	ctx := testCtx(t)
	for _, when := range []string{"while writing", "before writing"} {
		t.Run(when, func(t *testing.T) {
			jctx, cancel := context.WithCancel(ctx)
			defer cancel()
			task, err := c.Open(jctx, gearman.Job{Func: "nobody", Background: true, Data: bytes.Repeat([]byte("a"), 64<<10)})
			if err != nil {
				t.Fatal(err)
			}
			// The first chunk goes as SUBMIT_STREAM once a chunk is full.
			if _, err := task.Write(bytes.Repeat([]byte("b"), 64<<10)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-task.Created():
			case <-ctx.Done():
				t.Fatal("no JOB_CREATED")
			}
			if task.Handle() == "" {
				t.Fatalf("no handle: %v", task.Err())
			}
			if when == "before writing" {
				cancel()
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := task.Write(bytes.Repeat([]byte("c"), 1<<20)) // past the window
				wrote <- err
			}()
			if when == "while writing" {
				cancel()
			}
			select {
			case err := <-wrote:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Write: %v; want context.Canceled", err)
				}
			case <-ctx.Done():
				t.Fatal("Write still waits for credit after its context ended")
			}
			if err := task.Close(); err == nil {
				t.Errorf("Close after the cancelled Write: nil; want an error")
			}
		})
	}
	// The server dropped both jobs (STREAM_ABORT): none is queued.
	a, err := gearman.DialAdmin(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c.Echo(ctx, []byte("sync")) // the aborts are read before the status
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st {
		if f.Function == "nobody" && f.Queued != 0 {
			t.Errorf("status: %+v; want the aborted jobs dropped", f)
		}
	}
}

// A foreground stream task whose payload has ended (STREAM_END sent) is
// still governed by its context: when it ends, the task is abandoned with
// its error instead of waiting for a result no worker will send.
func TestStreamForegroundCancelledAfterPayload(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	c := dial(t, addr, &gearman.Options{Streaming: true})
	ctx := testCtx(t)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	task, err := c.Open(jctx, gearman.Job{Func: "nobody", Data: bytes.Repeat([]byte("a"), 100<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
	c.Echo(ctx, []byte("sync")) // the payload's end is written
	cancel()
	select {
	case <-task.Done():
	case <-ctx.Done():
		t.Fatal("the task is not done after its context ended")
	}
	if err := task.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err: %v; want context.Canceled", err)
	}
}
