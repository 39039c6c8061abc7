package gearman_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// In the default failure mode a worker reports a failed job with
// WORK_WARNING (the message) then WORK_FAIL, which the client reads as a
// *JobException; the warning is a real one on the wire, which comes before
// the client can know a failure follows, so it is on Task.Warnings too (as
// the docs say). With SendExceptions (WORK_EXCEPTION) it is not.
func TestFailureMessageOnWarnings(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		for _, send := range []bool{false, true} {
			t.Run(fmt.Sprintf("SendExceptions=%v", send), func(t *testing.T) {
				ctx := testCtx(t)
				w := dial(t, addr, &gearman.Options{SendExceptions: send})
				w.Register("boom", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
					return nil, errors.New("boom")
				}), nil)
				c := dial(t, addr, nil)
				task, err := c.Submit(ctx, gearman.Job{Func: "boom"})
				if err != nil {
					t.Fatal(err)
				}
				warnings := task.Warnings()
				_, err = task.Result(ctx)
				var je *gearman.JobException
				if !errors.As(err, &je) || je.Message != "boom" {
					t.Fatalf("got %v; want a JobException with the message", err)
				}
				var got []string
				for len(warnings) > 0 {
					got = append(got, string(<-warnings))
				}
				want := []string{"boom"}
				if send {
					want = nil
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("warnings %q; want %q", got, want)
				}
			})
		}
	})
}
