package jobserver

import (
	"slices"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// This file holds what package gearmantest needs from the engine: an
// observer of its changes and submits, read-only snapshots, and faults.
// Nothing here runs unless gearmantest asks for it.

// Observer learns of the engine's events; set it in [Config.Observer].
// Its methods are called with the engine's lock held (or just after), so
// they must return quickly and never call back into the engine.
type Observer interface {
	// Changed is called after every change of the engine's state that a
	// snapshot could show: a request handled, a connection come or gone,
	// a stall. It may be called when nothing changed.
	Changed()
	// Submitted is called for every submit the engine accepted (answered
	// JOB_CREATED), a coalesced one included, in order. Its slices alias
	// the engine's buffers: copy what you keep.
	Submitted(SubmitInfo)
}

// SubmitInfo is one accepted submit, as the client sent it.
type SubmitInfo struct {
	Type    wire.Type // which SUBMIT_* packet
	Handle  string    // the job's handle
	Func    []byte
	Unique  []byte
	Data    []byte
	Reducer []byte
	When    int64    // SUBMIT_JOB_EPOCH's Unix time, else 0
	Sched   [][]byte // SUBMIT_JOB_SCHED's five fields, else nil
}

// changed tells the observer, if any, that the state may have changed.
func (s *Server) changed() {
	if o := s.cfg.Observer; o != nil {
		o.Changed()
	}
}

// recordSubmit tells the observer, if any, of an accepted submit; s.mu held.
func (s *Server) recordSubmit(t wire.Type, r *submitReq, j *job) {
	o := s.cfg.Observer
	if o == nil {
		return
	}
	o.Submitted(SubmitInfo{
		Type: t, Handle: s.handleString(j),
		Func: r.fn, Unique: r.unique, Data: r.data, Reducer: r.reducer,
		When: r.when, Sched: r.schedArgs,
	})
}

// FuncInfo is a snapshot of one function.
type FuncInfo struct {
	Name              string
	High, Normal, Low int  // jobs waiting for a worker, by priority
	Running           int  // jobs held by workers
	Waiting           int  // epoch and scheduled jobs whose time has not come
	Workers           int  // registrations, duplicates included
	Stalled           bool // see [Server.Stall]
}

// ConnInfo is a snapshot of one connection.
type ConnInfo struct {
	ID       int      // the "fd" of the admin workers list
	IP       string   // the peer's address, as the admin workers list shows it
	ClientID string   // "-" when none was set
	Funcs    []string // distinct registered functions, sorted
	Running  int      // jobs this connection holds as a worker
}

// Funcs returns a snapshot of every function the engine knows, by name.
func (s *Server) Funcs() []FuncInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FuncInfo, 0, len(s.funcs))
	for _, f := range s.sortedFuncs() {
		out = append(out, FuncInfo{
			Name: f.name,
			High: f.queue[prioHigh].n, Normal: f.queue[prioNormal].n, Low: f.queue[prioLow].n,
			Running: f.running, Waiting: f.waiting, Workers: f.workers, Stalled: f.stalled,
		})
	}
	return out
}

// Conns returns a snapshot of every connection, in the order they came.
func (s *Server) Conns() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnInfo, 0, len(s.conns))
	for _, c := range s.sortedConns() {
		ci := ConnInfo{ID: c.id, IP: c.ip, ClientID: c.clientID, Running: len(c.holding)}
		for _, f := range c.funcs {
			ci.Funcs = append(ci.Funcs, f.name)
		}
		slices.SortFunc(ci.Funcs, strings.Compare)
		out = append(out, ci)
	}
	return out
}

// Stall stops (on) or resumes (!on) handing out the jobs of the function
// called name: while stalled its jobs are queued as usual but no worker
// gets them, and sleeping workers are not woken for them. Stalling a
// function the engine does not know yet creates it.
func (s *Server) Stall(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fn([]byte(name))
	if f.stalled == on {
		return
	}
	f.stalled = on
	if !on && !s.draining {
		s.wakeFor(f)
	}
	s.changed()
}

// CloseConns closes every connection at once, as a network failure would;
// the server goes on accepting new ones.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.SetDeadline(time.Now())
		c.nc.Close()
	}
}
