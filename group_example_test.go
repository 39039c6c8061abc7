package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// A group runs many jobs as one and reports each as it ends, with its
// index; a failed job does not stop the others. Wait then gives the counts.
func ExampleGroup() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("upper", func(ctx context.Context, p []byte) ([]byte, error) {
		if len(p) == 0 {
			return nil, fmt.Errorf("nothing to upper-case")
		}
		return bytes.ToUpper(p), nil
	})
	pool := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{MaxJobs: 4}})
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var jobs []gearman.Job
	for _, w := range []string{"all", "work", "", "and", "no", "play"} {
		jobs = append(jobs, gearman.Job{Func: "upper", Data: []byte(w)})
	}
	g := gearman.NewGroup(ctx, pool, slices.Values(jobs), &gearman.GroupOptions{MaxInFlight: 3})
	out := make([]string, len(jobs))
	for i, r := range g.Results() { // in completion order
		if r.Err != nil {
			out[i] = "(failed)"
			continue
		}
		out[i] = string(r.Data)
	}
	done := g.Wait()
	fmt.Println(out)
	fmt.Printf("%d jobs: %d completed, %d failed, err %v\n", done.Jobs, done.Completed, done.Failed, done.Err)
	// Output:
	// [ALL WORK (failed) AND NO PLAY]
	// 6 jobs: 5 completed, 1 failed, err <nil>
}

// A job's own timeouts, beside the caller's context: a job no worker takes
// within its AssignTimeout is withdrawn from the server and never runs; a
// job that runs longer than its RunTimeout is abandoned. errors.Is tells
// the three apart.
func ExampleJob_timeouts() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("slow", func(ctx context.Context, p []byte) ([]byte, error) {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
		return p, nil
	})
	pool := srv.Pool(nil)
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Nobody serves "nobody": the job is withdrawn after 100ms.
	_, err := pool.Do(ctx, gearman.Job{Func: "nobody", AssignTimeout: 100 * time.Millisecond})
	var te *gearman.TimeoutError
	fmt.Println(errors.Is(err, gearman.ErrAssignTimeout), errors.As(err, &te) && te.Withdrawn)

	// "slow" takes 5s: abandoned after it ran 100ms.
	_, err = pool.Do(ctx, gearman.Job{Func: "slow", RunTimeout: 100 * time.Millisecond})
	fmt.Println(errors.Is(err, gearman.ErrRunTimeout))

	// The caller's own deadline is still context.DeadlineExceeded.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	_, err = pool.Do(short, gearman.Job{Func: "nobody", AssignTimeout: time.Minute})
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, gearman.ErrAssignTimeout))
	// Output:
	// true true
	// true
	// true false
}
