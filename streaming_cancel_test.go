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
	ctx := testCtx(t)
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
