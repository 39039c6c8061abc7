package gearman

import (
	"context"
)

// Handler serves the jobs of a registered function. Work gets the job as a
// worker [Task]: its reader is the payload, its writer the result. Returning
// nil completes the job (if Work has not closed the task itself); returning
// an error fails it as [Task.CloseWithError] does. A panic fails the job
// with an exception and the worker goes on. ctx is cancelled when the
// connection closes.
type Handler interface {
	Work(ctx context.Context, task *Task) error
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc func(ctx context.Context, task *Task) error

// Work calls f(ctx, task).
func (f HandlerFunc) Work(ctx context.Context, task *Task) error { return f(ctx, task) }

// BytesHandler adapts a function of the whole payload to the whole result.
// The result goes out in the single WORK_COMPLETE packet.
func BytesHandler(f func(ctx context.Context, payload []byte) ([]byte, error)) Handler {
	return bytesHandler(f)
}

type bytesHandler func(ctx context.Context, payload []byte) ([]byte, error)

// Work reads the payload, calls the function and completes the job.
func (f bytesHandler) Work(ctx context.Context, t *Task) error {
	payload, err := t.in.readAllCtx(ctx, true)
	if err != nil {
		return err
	}
	result, err := f(ctx, payload)
	if err != nil {
		return err
	}
	return t.complete(result)
}
