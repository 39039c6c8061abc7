package jobserver

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// This file is the dead-letter list: background jobs that failed and are
// out of retries, kept (RetryPolicy.Keep) for an operator to look at,
// queue again or purge. A dead letter keeps its handle, function, unique
// id, payload and priority, and its failures; it is in no queue and
// unknown to GET_STATUS. The list holds at most Config.MaxDeadLetters:
// past it the oldest is dropped (and logged), so the newest failures are
// the ones kept.
//
// With a store, dead letters are stored (store.Job.Dead) and come back at
// restart. With a shared store (a cluster on PostgreSQL), the store keeps
// the cluster's dead letters and this server keeps none in memory: the
// list, retry and purge go to the store (store.DeadLetters).

// DeadLetter is one dead letter, as Server.DeadLetters lists it.
type DeadLetter struct {
	Handle   string
	Func     string
	Unique   string
	Data     []byte
	Priority int // 0 high, 1 normal, 2 low
	Attempts int // failed attempts
	Error    string
	First    time.Time // the first failure
	Last     time.Time // the last failure: when it became a dead letter
}

// DeadSelector picks dead letters: the one with Handle, else those of
// Func, else (both empty) all.
type DeadSelector struct {
	Handle string
	Func   string
}

// ErrNoDeadLetters is the error of the dead-letter calls with a shared
// store that keeps none.
var ErrNoDeadLetters = errors.New("gearman: this store keeps no dead letters")

// deadLetters returns the shared store's dead letters, or nil.
func (s *Server) deadStore() (store.DeadLetters, error) {
	dl, ok := s.shared.(store.DeadLetters)
	if !ok {
		return nil, ErrNoDeadLetters
	}
	return dl, nil
}

// deadCopy returns a one-off copy of scheduled job j's failed run, with
// an id of its own, to be buried.
func (s *Server) deadCopy(j *job) *job {
	s.nextJob++
	fl := *j.failInfo()
	return &job{
		id: s.nextJob, fn: j.fn, unique: j.unique, data: j.data, prio: j.prio, bg: true,
		heapi: -1, created: j.created, extra: &jobExtra{reducer: j.reducer(), fail: &fl},
	}
}

// bury makes j, released and in no list, a dead letter. s.mu held.
func (s *Server) bury(j *job) {
	f := j.fn
	if s.jobs[j.id] == j {
		delete(s.jobs, j.id)
		f.total--
		if k := j.key(); k != "" {
			s.unindexUnique(j, k)
		}
	}
	s.detachClients(j)
	j.state = stateDead
	j.when = 0
	if s.store != nil {
		var sj store.Job
		s.toStored(j, &sj)
		if j.stored {
			j.ref = s.store.Failed(j.ref, sj)
		} else {
			j.ref, _ = s.store.Created(sj, 0) // a scheduled run's copy: not waited for either
			j.stored = j.ref != (store.Ref{})
		}
	}
	s.mDead(j)
	if s.shared != nil {
		// The shared store keeps it for the cluster.
		j.stored = false
		s.forgetIfUnused(f)
		return
	}
	if s.dead == nil {
		s.dead = make(map[uint64]*job)
	}
	s.dead[j.id] = j
	s.deadq.pushBack(j)
	f.dead++
	for s.deadq.n > s.cfg.MaxDeadLetters {
		old := s.deadq.head
		s.logWarn("dead-letter list full: dropping the oldest", "handle", s.handleString(old), "function", old.fn.name, "max", s.cfg.MaxDeadLetters)
		s.mDeadDropped(old)
		s.dropDead(old)
	}
}

// dropDead forgets dead letter j. s.mu held.
func (s *Server) dropDead(j *job) {
	s.unlistDead(j)
	j.state = stateDone
	if j.stored {
		j.stored = false
		s.store.Finished(j.ref, j.id)
	}
	s.forgetIfUnused(j.fn)
}

// unlistDead takes j out of the dead-letter list. s.mu held.
func (s *Server) unlistDead(j *job) {
	s.deadq.remove(j)
	delete(s.dead, j.id)
	j.fn.dead--
}

// revive queues dead letter j again, with its retries anew. s.mu held.
func (s *Server) revive(j *job) {
	s.unlistDead(j)
	old := j.fn
	j.fn = s.fn([]byte(old.name)) // the same, unless an admin dropped it
	s.forgetIfUnused(old)
	if fl := j.failInfo(); fl != nil {
		fl.n = 0
	}
	j.retries = 0         // its lost attempts too (Config.JobRetries)
	j.state = stateQueued // for toStored: not waiting
	if j.stored {
		var sj store.Job
		s.toStored(j, &sj)
		j.ref = s.store.Failed(j.ref, sj)
	}
	s.mRetried(j)
	s.register(j)
	s.enqueue(j)
}

// replayDead puts a replayed dead letter in the list. s.mu held or not
// yet shared.
func (s *Server) replayDead(j *job) {
	j.state = stateDead
	j.when = 0
	if s.dead == nil {
		s.dead = make(map[uint64]*job)
	}
	s.dead[j.id] = j
	s.deadq.pushBack(j)
	j.fn.dead++
}

// deadView returns the view of dead letter j.
func (s *Server) deadView(j *job) DeadLetter {
	d := DeadLetter{Handle: s.handleString(j), Func: j.fn.name, Unique: j.unique, Data: j.data, Priority: int(j.prio)}
	if fl := j.failInfo(); fl != nil {
		d.Attempts, d.Error = int(fl.n), fl.err
		d.First, d.Last = time.Unix(0, fl.first).UTC(), time.Unix(0, fl.last).UTC()
	}
	return d
}

// storedDeadView returns the view of a dead letter a shared store keeps.
func (s *Server) storedDeadView(sj *store.Job) DeadLetter {
	return DeadLetter{
		Handle: s.prefix + strconv.FormatUint(sj.ID, 10), Func: sj.Func, Unique: sj.Unique, Data: sj.Data,
		Priority: int(sj.Priority), Attempts: int(sj.Failures), Error: sj.Error,
		First: time.Unix(0, sj.FirstFailed).UTC(), Last: time.Unix(0, sj.LastFailed).UTC(),
	}
}

// DeadLetters returns the first limit dead letters (all when limit <= 0)
// of function fn ("" for every function), oldest first, and how many
// there are in all (of fn).
func (s *Server) DeadLetters(ctx context.Context, fn string, limit int) ([]DeadLetter, int, error) {
	if s.shared != nil {
		dl, err := s.deadStore()
		if err != nil {
			return nil, 0, err
		}
		sjs, total, err := dl.ListDead(ctx, fn, limit)
		if err != nil {
			return nil, 0, err
		}
		out := make([]DeadLetter, len(sjs))
		for i := range sjs {
			out[i] = s.storedDeadView(&sjs[i])
		}
		return out, total, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	total := 0
	for j := s.deadq.head; j != nil; j = j.next {
		if fn != "" && j.fn.name != fn {
			continue
		}
		total++
		if limit <= 0 || len(out) < limit {
			out = append(out, s.deadView(j))
		}
	}
	return out, total, nil
}

// RetryDead queues the dead letters sel picks again, each with its
// retries anew, and returns how many.
func (s *Server) RetryDead(ctx context.Context, sel DeadSelector) (int, error) {
	return s.eachDead(ctx, sel, s.revive, store.DeadLetters.ReviveDead)
}

// PurgeDead forgets the dead letters sel picks, and returns how many.
func (s *Server) PurgeDead(ctx context.Context, sel DeadSelector) (int, error) {
	return s.eachDead(ctx, sel, s.dropDead, store.DeadLetters.PurgeDead)
}

// eachDead applies do to the dead letters sel picks (or, with a shared
// store, asks the store to with remote).
func (s *Server) eachDead(ctx context.Context, sel DeadSelector, do func(*job),
	remote func(store.DeadLetters, context.Context, uint64, string) (int, error)) (int, error) {
	var id uint64
	if sel.Handle != "" {
		var ok bool
		if id, ok = handleID([]byte(sel.Handle)); !ok {
			return 0, nil
		}
	}
	if s.shared != nil {
		dl, err := s.deadStore()
		if err != nil {
			return 0, err
		}
		return remote(dl, ctx, id, sel.Func)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	var picked []*job
	switch {
	case sel.Handle != "":
		if j := s.dead[id]; j != nil && s.handleString(j) == sel.Handle {
			picked = append(picked, j)
		}
	default:
		for j := s.deadq.head; j != nil; j = j.next {
			if sel.Func == "" || j.fn.name == sel.Func {
				picked = append(picked, j)
			}
		}
	}
	for _, j := range picked {
		do(j)
	}
	if len(picked) > 0 {
		s.changed()
	}
	return len(picked), nil
}

// DeadCounts returns the number of dead letters of each function that has
// some: this server's, or with a shared store the cluster's, from a count
// that may be a few seconds old (store.ClusterCounter). The map is the
// caller's to read, not to change.
func (s *Server) DeadCounts(ctx context.Context) (map[string]int, error) {
	if s.shared != nil {
		cc, ok := s.shared.(store.ClusterCounter)
		if !ok {
			return nil, ErrNoDeadLetters
		}
		return cc.DeadCounts(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadCounts(), nil
}

// deadCounts returns the number of dead letters per function name. s.mu
// held.
func (s *Server) deadCounts() map[string]int {
	m := map[string]int{}
	for j := s.deadq.head; j != nil; j = j.next {
		m[j.fn.name]++
	}
	return m
}

// SetRetryPolicy sets function fn's retry policy (nil: back to the
// server's, Config.Retry).
func (s *Server) SetRetryPolicy(fn string, p *RetryPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRetryPolicy(s.fn([]byte(fn)), p)
}

// setRetryPolicy sets f's policy. s.mu held.
func (s *Server) setRetryPolicy(f *function, p *RetryPolicy) {
	if p == nil {
		f.retry = nil
		s.forgetIfUnused(f)
		return
	}
	c := *p
	f.retry = &c
	f.kept = true
}

// RetryPolicyOf returns function fn's retry policy, defaults filled in,
// and whether it is the function's own (else the server's).
func (s *Server) RetryPolicyOf(fn string) (RetryPolicy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.funcs[fn]; f != nil && f.retry != nil {
		return f.retry.withDefaults(), true
	}
	return s.cfg.Retry.withDefaults(), false
}
