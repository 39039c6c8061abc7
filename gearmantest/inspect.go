package gearmantest

import (
	"context"
	"slices"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/wire"
)

// Func is a snapshot of one function of the server.
type Func struct {
	Name string
	// Queued counts the jobs waiting for a worker, by priority; only
	// priorities with jobs have an entry, and it is nil when none has.
	// Epoch and scheduled jobs whose time has not come are not queued
	// yet: see Waiting.
	Queued map[gearman.Priority]int
	// Running counts the jobs workers hold.
	Running int
	// Waiting counts the epoch and scheduled jobs whose time has not come.
	Waiting int
	// Workers counts the registrations of the function (a worker that
	// registered it twice counts twice, as in the admin "status").
	Workers int
	// Stalled reports whether the function is stalled (see [Server.Stall]).
	Stalled bool
}

// Worker is a snapshot of one connection that registered functions.
type Worker struct {
	// ClientID is the id the connection set (gearman.Options.ClientID),
	// or "-".
	ClientID string
	// Funcs are the functions it registered, sorted.
	Funcs []string
	// Running counts the jobs it holds.
	Running int
}

// Funcs returns a snapshot of every function the server knows, by name. A
// function that every connection which used it has left, with no job left,
// is no longer known (see gearman.Server).
func (s *Server) Funcs() []Func {
	infos := s.eng.Funcs()
	out := make([]Func, len(infos))
	for i, f := range infos {
		out[i] = funcOf(f)
	}
	return out
}

// Func returns a snapshot of the function called name; a function the
// server does not know has only its Name set.
func (s *Server) Func(name string) Func {
	for _, f := range s.eng.Funcs() {
		if f.Name == name {
			return funcOf(f)
		}
	}
	return Func{Name: name}
}

func funcOf(f jobserver.FuncInfo) Func {
	var q map[gearman.Priority]int
	for p, n := range map[gearman.Priority]int{gearman.High: f.High, gearman.Normal: f.Normal, gearman.Low: f.Low} {
		if n > 0 {
			if q == nil {
				q = make(map[gearman.Priority]int)
			}
			q[p] = n
		}
	}
	return Func{Name: f.Name, Queued: q, Running: f.Running, Waiting: f.Waiting, Workers: f.Workers, Stalled: f.Stalled}
}

// Queued returns the jobs of fn waiting for a worker, by priority; only
// priorities with jobs have an entry, and it is nil when none has.
func (s *Server) Queued(fn string) map[gearman.Priority]int { return s.Func(fn).Queued }

// Workers returns a snapshot of the connections that registered at least
// one function, in the order they connected. The workers of
// [Server.Handle] have the ClientID "gearmantest".
func (s *Server) Workers() []Worker {
	var out []Worker
	for _, c := range s.eng.Conns() {
		if len(c.Funcs) > 0 {
			out = append(out, Worker{ClientID: c.ClientID, Funcs: c.Funcs, Running: c.Running})
		}
	}
	return out
}

// Connections returns the number of connections the server has open:
// clients, workers and admin connections.
func (s *Server) Connections() int { return len(s.eng.Conns()) }

// Submitted returns every job the server accepted so far, in order, as the
// clients submitted it: Data is the payload, At is set (to the second) for
// a job submitted with an epoch, and a submit that joined a job with the
// same unique id counts too.
func (s *Server) Submitted() []gearman.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.submitted)
}

// WaitFor waits until cond reports true, and returns nil; or until ctx
// ends, and returns its error; or until the server closes, and returns
// gearman.ErrServerClosed. It calls cond at once, then again after every
// change of the server's state (a request handled, a connection opened or
// closed, a timer run, the clock moved), never by polling, so cond should
// depend on the server's state. cond must not block.
func (s *Server) WaitFor(ctx context.Context, cond func(*Server) bool) error {
	for {
		s.mu.Lock()
		ch := s.changes
		s.watched = true
		s.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return gearman.ErrServerClosed
		}
	}
}

// WaitSubmitted waits until the server has accepted at least n jobs, and
// returns them all as Submitted does; or returns ctx's error.
func (s *Server) WaitSubmitted(ctx context.Context, n int) ([]gearman.Job, error) {
	err := s.WaitFor(ctx, func(s *Server) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.submitted) >= n
	})
	if err != nil {
		return nil, err
	}
	return s.Submitted(), nil
}

// changed wakes the waiters of WaitFor.
func (s *Server) changed() {
	s.mu.Lock()
	if s.watched {
		// Only a channel someone took is closed and replaced: most
		// changes happen with nobody waiting, and cost nothing.
		close(s.changes)
		s.changes = make(chan struct{})
		s.watched = false
	}
	s.mu.Unlock()
}

// observer is the Server seen by the engine.
type observer Server

func (o *observer) Changed() { (*Server)(o).changed() }

func (o *observer) Submitted(si jobserver.SubmitInfo) {
	j := gearman.Job{
		Func:   string(si.Func),
		Unique: string(si.Unique),
	}
	if len(si.Data) > 0 {
		j.Data = slices.Clone(si.Data)
	}
	switch si.Type.Priority() {
	case wire.PriorityHigh:
		j.Priority = gearman.High
	case wire.PriorityLow:
		j.Priority = gearman.Low
	}
	j.Background = si.Type.Background()
	switch si.Type {
	case wire.SubmitJobEpoch:
		j.At = time.Unix(si.When, 0)
	case wire.SubmitJobSched:
		j.Schedule = &gearman.Schedule{
			Minute: string(si.Sched[0]), Hour: string(si.Sched[1]), DayOfMonth: string(si.Sched[2]),
			Month: string(si.Sched[3]), DayOfWeek: string(si.Sched[4]),
		}
	case wire.SubmitReduceJob, wire.SubmitReduceJobBackground:
		j.Reducer = string(si.Reducer)
	}
	o.mu.Lock()
	o.submitted = append(o.submitted, j)
	o.mu.Unlock()
}
