package gearman_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// A handler that waits for a sub-job served by its own pool holds one of
// the pool's MaxJobs slots meanwhile: with every slot so held, nothing runs
// the sub-jobs, and the handlers wait until their contexts end (as the Pool
// docs say). Serving the sub-jobs' function from a second pool, with a
// budget of its own, works.
func TestPoolSubJobs(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	child := gearman.BytesHandler(func(ctx context.Context, in []byte) ([]byte, error) {
		return append([]byte("child of "), in...), nil
	})
	// parent submits its sub-job once both parents run (so that both
	// slots are surely held by parents).
	parent := func(sub *gearman.Pool, fn string) gearman.Handler {
		running := make(chan struct{}, 2)
		return gearman.BytesHandler(func(ctx context.Context, in []byte) ([]byte, error) {
			running <- struct{}{}
			for len(running) < 2 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			return sub.Do(ctx, gearman.Job{Func: fn, Data: in})
		})
	}
	opts := &gearman.PoolOptions{Options: gearman.Options{MaxJobs: 2}}
	ctx := testCtx(t)

	// One pool serves both: two parents hold both slots.
	same := newPool(t, []string{addr}, opts)
	same.Register("child-same", child, nil)
	same.Register("parent-same", parent(same, "child-same"), nil)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := same.Do(short, gearman.Job{Func: "parent-same", Data: []byte("p")}); errs <- err }()
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("parent on a pool that serves its sub-job too: %v; want it to wait until the context ends", err)
		}
	}

	// A second pool serves the sub-jobs.
	workers := newPool(t, []string{addr}, opts)
	children := newPool(t, []string{addr}, opts)
	children.Register("child-other", child, nil)
	workers.Register("parent-other", parent(workers, "child-other"), nil)
	for range 2 {
		go func() {
			out, err := workers.Do(ctx, gearman.Job{Func: "parent-other", Data: []byte("p")})
			if err == nil && string(out) != "child of p" {
				err = errors.New("got " + string(out))
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("parent whose sub-job another pool serves: %v", err)
		}
	}
}
