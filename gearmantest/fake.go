package gearmantest

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// The workers of Handle run up to fakeJobs jobs at once, and redial a lost
// server after fakeMinBackoff, backing off to fakeMaxBackoff: soon enough
// that a test of reconnects waits on its own code, not on the fakes.
const (
	fakeJobs       = 64
	fakeMinBackoff = 5 * time.Millisecond
	fakeMaxBackoff = 100 * time.Millisecond
)

// Reply is what a fake worker made by [Server.Fake] does with every job:
// it reads the payload, sends the Status reports, waits Delay, then ends
// the job with Err or completes it with Data.
type Reply struct {
	// Data is the result.
	Data []byte
	// Err, when set, ends the job instead: with WORK_FAIL when it wraps
	// gearman.ErrJobFailed, else as an exception carrying its text, which
	// the client gets as a *gearman.JobException.
	Err error
	// Status are progress reports sent before the result.
	Status []gearman.Status
	// Delay is how long the worker takes, in the time package's time
	// (virtual inside a testing/synctest bubble). A job whose connection
	// closes meanwhile ends at once.
	Delay time.Duration
}

// Fake registers a fake worker for fn that answers every job with r; see
// [Server.Handle].
func (s *Server) Fake(fn string, r Reply) {
	if s.t != nil {
		s.t.Helper()
	}
	r.Data, r.Status = slices.Clone(r.Data), slices.Clone(r.Status)
	s.Handle(fn, gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		if _, err := io.Copy(io.Discard, task); err != nil {
			return err
		}
		for _, st := range r.Status {
			if err := task.SetStatus(st.Numerator, st.Denominator); err != nil {
				return err
			}
		}
		if r.Delay > 0 {
			t := time.NewTimer(r.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if r.Err != nil {
			return r.Err
		}
		_, err := task.Write(r.Data)
		return err
	}))
}

// HandleFunc registers a fake worker for fn that answers every job with
// f's result: the payload in, the result out, or an error that ends the
// job (WORK_FAIL when it wraps gearman.ErrJobFailed, else an exception).
// See [Server.Handle].
func (s *Server) HandleFunc(fn string, f func(ctx context.Context, payload []byte) ([]byte, error)) {
	if s.t != nil {
		s.t.Helper()
	}
	s.Handle(fn, gearman.BytesHandler(f))
}

// Handle registers h for fn on a worker that the server runs itself, over
// its own transport, and returns once the server knows the worker (while
// the server refuses connections, that waits for the refusal to end). The
// worker is a pool with the ClientID "gearmantest" that runs up to 64 jobs
// at once; like any pool it reconnects after
// [Server.CloseClientConnections], redialling every 100ms at most while
// refused. Registering fn again replaces its handler. Close stops the
// worker, cancelling the handlers' contexts.
func (s *Server) Handle(fn string, h gearman.Handler) {
	if s.t != nil {
		s.t.Helper()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.fatalf("gearmantest: Handle after Close")
		return
	}
	p := s.fakes
	if p == nil {
		var err error
		p, err = gearman.NewPool([]string{s.addr}, &gearman.PoolOptions{
			Options:    gearman.Options{DialContext: s.DialContext, ClientID: "gearmantest", MaxJobs: fakeJobs},
			MinBackoff: fakeMinBackoff, MaxBackoff: fakeMaxBackoff,
		})
		if err != nil {
			s.mu.Unlock()
			s.fatalf("gearmantest: %v", err)
			return
		}
		s.fakes = p
	}
	s.mu.Unlock()
	if err := p.Register(fn, h, nil); err != nil {
		s.fatalf("gearmantest: register %s: %v", fn, err)
		return
	}
	err := s.WaitFor(s.ctx, func(s *Server) bool {
		for _, w := range s.Workers() {
			if w.ClientID == "gearmantest" && slices.Contains(w.Funcs, fn) {
				return true
			}
		}
		return false
	})
	if err != nil {
		s.fatalf("gearmantest: register %s: %v", fn, err)
	}
}
