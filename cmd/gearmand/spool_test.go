package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// TestMaxSpool: --max-spool and --max-spool-total bound what the server
// holds of a streamed payload for a worker without the streaming
// extension: a payload within them reaches the worker, one past either
// fails with an exception that names the limit.
func TestMaxSpool(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name  string
		args  []string
		size  int
		limit string // what the failure says, "" when the payload fits
	}{
		{"within --max-spool", []string{"--max-spool", "1048576"}, mib, ""},
		{"past --max-spool", []string{"--max-spool", "1048576"}, 2 * mib, "1048576 bytes it holds for a worker without the streaming extension (MaxSpool)"},
		{"past --max-spool-total", []string{"--max-spool=2097152", "--max-spool-total=262144"}, mib, "(MaxSpoolTotal, 262144 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, tc.args...)
			ctx := testCtx(t)
			w := dial(t, c.addr, nil) // a worker without the extension
			err := w.Register("upper", gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) {
				return bytes.ToUpper(p), nil
			}), nil)
			if err != nil {
				t.Fatal(err)
			}
			task, err := dial(t, c.addr, &gearman.Options{Streaming: true}).Open(ctx, gearman.Job{Func: "upper"})
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("p"), tc.size)
			_, werr := io.Copy(task, bytes.NewReader(payload))
			if werr == nil {
				werr = task.Close()
			}
			got, err := task.Result(ctx)
			if tc.limit == "" {
				if werr != nil || err != nil || !bytes.Equal(got, bytes.ToUpper(payload)) {
					t.Fatalf("got %d bytes, %v (writing: %v); want the payload in upper case", len(got), err, werr)
				}
				return
			}
			var je *gearman.JobException
			if !errors.As(err, &je) || !strings.Contains(je.Message, tc.limit) {
				t.Errorf("Result: %v; want a JobException saying %q", err, tc.limit)
			}
			if werr == nil {
				t.Errorf("writing the payload: no error; want the job's failure")
			}
		})
	}
}
