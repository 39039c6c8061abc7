package gearman_test

import (
	"bytes"
	"context"
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
