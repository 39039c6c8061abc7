package gearman

import (
	"errors"
	"strings"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// SafeToRetry reports whether err, from a submit, guarantees that the job was
// not created anywhere: the submit never left this process, or the server
// refused it with an ERROR. Every error raised before a byte of the submit
// was sent is one: an invalid [Job] (say At without Background, or a unique
// id longer than [MaxUniqueLen]), a payload over [Options.MaxPayload], a
// connection or pool already ended, a context already done. A job that
// failed with an error for which SafeToRetry is false may have been
// created, and may run.
//
// An invalid job fails the same way everywhere: retrying it elsewhere is
// safe, but useless.
func SafeToRetry(err error) bool {
	var ns *notSubmittedError
	return errors.As(err, &ns)
}

// notSubmittedError marks a submit error after which the job surely does not
// exist on the server.
type notSubmittedError struct{ err error }

// unsent marks err, raised before any byte of the submit was sent (an
// invalid job, a connection or pool already closed, a context already
// done), as safe to retry. It returns nil for nil.
func unsent(err error) error {
	var ns *notSubmittedError
	if err == nil || errors.As(err, &ns) {
		return err
	}
	return &notSubmittedError{err}
}

func (e *notSubmittedError) Error() string { return e.err.Error() }
func (e *notSubmittedError) Unwrap() error { return e.err }

// Sentinel errors. Errors the package returns wrap them; test for them with
// [errors.Is].
var (
	// ErrJobFailed means the job ended with WORK_FAIL: the worker (or the
	// server, after too many retries or a cancel) gave up on it.
	ErrJobFailed = errors.New("gearman: job failed")
	// ErrJobException means the job ended with an exception; the error is a
	// [*JobException] carrying the worker's message.
	ErrJobException = errors.New("gearman: job exception")
	// ErrConnLost means the connection to the job server failed: the job
	// itself may or may not have run. A task that was running on it ends with
	// an error wrapping ErrConnLost.
	ErrConnLost = errors.New("gearman: connection lost")
	// ErrClosed means the connection, pool or task was closed by its owner.
	ErrClosed = errors.New("gearman: closed")
	// ErrServerClosed is returned by [Server.Serve] and
	// [Server.ListenAndServe] after [Server.Shutdown] or [Server.Close],
	// and by [Server.RetryDeadLetters] and [Server.PurgeDeadLetters] (on a
	// server without a shared store) after Close.
	ErrServerClosed = jobserver.ErrClosed
	// ErrShortPayload means a task was closed before its payload reached
	// the length declared in Job.Size.
	ErrShortPayload = errors.New("gearman: payload shorter than declared")
	// ErrNotSupported means the job server refused an option or a packet
	// this call needs (for example OPTION_REQ streaming against gearmand).
	ErrNotSupported = errors.New("gearman: not supported by the server")
)

// JobException is the error of a job that ended with WORK_EXCEPTION, or with
// WORK_WARNING then WORK_FAIL (how a worker reports an exception by
// default, or to a server without exceptions). In the latter case the
// message came on [Task.Warnings] too.
type JobException struct {
	Handle  string // the job's handle
	Message string // the worker's exception data
}

// Error returns "gearman: job H:host:1 exception: message".
func (e *JobException) Error() string {
	return "gearman: job " + e.Handle + " exception: " + e.Message
}

// Unwrap returns [ErrJobException].
func (e *JobException) Unwrap() error { return ErrJobException }

// ServerError is an ERROR packet from a job server, such as
// QUEUE_ERROR "Job queue is full" for a submit over the maxqueue limit.
type ServerError struct {
	Code    string // the server's error code, such as UNKNOWN_OPTION
	Message string // the server's text
}

// Error returns "gearman: server error CODE: message".
func (e *ServerError) Error() string {
	var b strings.Builder
	b.WriteString("gearman: server error ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}
