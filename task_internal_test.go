package gearman

import (
	"context"
	"io"
	"testing"
)

// Regression: a task's context could end while finish ran (the watch had
// already started); abandon then replaced the clean end and dropped the
// result, so Err said nil while Read said context.Canceled.
func TestAbandonAfterFinishKeepsResult(t *testing.T) {
	task := newTask(&Conn{opts: Options{TaskBuffer: 16}}, "f", false)
	task.in.write([]byte("hi"))
	task.finish(nil)
	task.abandon(context.Canceled)
	got, err := io.ReadAll(task)
	if err != nil || string(got) != "hi" || task.Err() != nil {
		t.Fatalf("read %q, %v, Err() %v; want hi, nil, nil", got, err, task.Err())
	}
}
