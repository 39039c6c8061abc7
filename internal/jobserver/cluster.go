package jobserver

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file is the engine's side of a shared store (store.Shared): a
// cluster of servers with one queue of background jobs.
//
// The engine holds in memory only the background jobs it runs or is about
// to: those the store claimed for it, and those submitted here while a
// worker here could take them at once (held). Every other background
// submit goes into the shared queue and is forgotten here once durable.
// The engine tells the store how many more jobs of each function it would
// take (demand): a few per registered worker (prefetch) beyond those
// queued here, so that each worker finds its next jobs here when it asks
// and one claim serves several of them. A claimed job that has
// waited here longer than the store's hold time, or whose function lost
// its last worker here, is given back (sweep, releaseFunc).

// prefetch is the number of jobs per registered worker of a function that
// the engine keeps queued here from the shared queue.
const prefetch = 16

// maxPrefetch bounds the jobs of one function queued here from the shared
// queue, however many workers it has.
const maxPrefetch = 1024

// lookupTimeout bounds a look-up in the shared queue for a client.
const lookupTimeout = 5 * time.Second

// demand tells a shared store how many more jobs of f this server would
// take now. s.mu held.
func (s *Server) demand(f *function) {
	if s.shared == nil {
		return
	}
	n := 0
	if !f.stalled && !s.draining && !s.closed {
		// Claim when half the prefetch is gone, for the whole of it: few
		// claims of many jobs, not one claim per job.
		target := min(f.workers*prefetch, maxPrefetch)
		if have := f.queued() + f.heldPending; have*2 <= target {
			n = target - have
		}
	}
	s.shared.Want(f.name, n)
}

// holdsNew reports whether a new background job of f, runnable now, is
// kept here rather than put in the shared queue: a worker here is free
// for it. s.mu held.
func (s *Server) holdsNew(f *function, r *submitReq) bool {
	return r.sched == nil && r.when <= s.unixNow() && !f.stalled &&
		f.workers-f.queued()-f.heldPending > 0
}

// handOver forgets a job that is not (or no longer) the engine's: one
// whose durable record is now in the shared queue, not held here, or one
// that was not stored (see abandon). Foreground clients that joined it
// meanwhile get WORK_FAIL: it runs elsewhere, if at all. s.mu held.
func (s *Server) handOver(j *job) {
	j.state = stateDone
	j.stored = false
	s.failClients(j)
	s.forget(j)
}

// Deliver takes jobs the store claimed for this server (store.Claimer).
func (s *Server) Deliver(jobs []*store.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // the store gives back what this node holds when it closes
	}
	now := s.clock.Now().UnixNano()
	var fns []*function
	for _, sj := range jobs {
		if x := s.jobs[sj.ID]; x != nil {
			if x.state == statePending && !x.held {
				// Submitted here and claimed back before its answer
				// went out: it is held here now, and runs once
				// activated.
				x.held = true
				x.fn.heldPending++
			}
			continue
		}
		j := s.storedJob(sj, store.Ref{})
		if j == nil {
			continue
		}
		j.held = true
		j.ref.Seq = uint64(now) // when it came: see sweep
		if sj.Lost && s.cfg.JobRetries > 0 && int(j.retries) >= s.cfg.JobRetries {
			s.logWarn("stored job failed: retries exhausted (its last attempt was lost with its server)", "handle", s.handleString(j), "retries", j.retries)
			s.store.Finished(j.ref, j.id)
			continue
		}
		s.register(j)
		s.enqueue(j) // its time has come, even a scheduled job's
		if len(fns) == 0 || fns[len(fns)-1] != j.fn {
			fns = append(fns, j.fn)
		}
	}
	for _, f := range fns {
		s.demand(f)
	}
	s.changed()
}

// Cancelled drops a job cancelled on another server (store.Claimer).
func (s *Server) Cancelled(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if s.closed || j == nil || !j.stored || j.canceled {
		return
	}
	j.stored = false // its row is gone
	s.cancel(j)
}

// LeaseLost forgets the held jobs not running (store.Claimer): other
// servers may claim them now. They are released too, for when the
// database answers again before their leases are reaped.
func (s *Server) LeaseLost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := s.heldQueued(func(*job) bool { return true })
	for _, j := range jobs {
		s.failClients(j)
	}
	s.giveBack(jobs)
}

// heldQueued returns the held, stored jobs queued here for which keep
// reports true. s.mu held.
func (s *Server) heldQueued(keep func(*job) bool) []*job {
	var out []*job
	for _, f := range s.funcs {
		for p := range nPrio {
			for j := f.queue[p].head; j != nil; j = j.next {
				if j.held && j.stored && keep(j) {
					out = append(out, j)
				}
			}
		}
	}
	return out
}

// giveBack forgets held queued jobs and gives them back to the cluster.
// s.mu held.
func (s *Server) giveBack(jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	ids := make([]uint64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.id)
		j.stored = false
		s.free(j)
	}
	s.shared.Release(ids)
}

// releaseFunc gives back the held jobs of f queued beyond what its workers
// here can take. s.mu held.
func (s *Server) releaseFunc(f *function) {
	if s.shared == nil {
		return
	}
	excess := f.queued() - min(f.workers*prefetch, maxPrefetch)
	if excess <= 0 {
		return
	}
	var out []*job
	for p := nPrio - 1; p >= 0 && len(out) < excess; p-- {
		for j := f.queue[p].tail; j != nil && len(out) < excess; j = j.prev {
			if j.held && j.stored && len(j.clients) == 0 {
				out = append(out, j)
			}
		}
	}
	s.giveBack(out)
}

// sweep runs while the server has a shared store: it gives back the held
// jobs that waited here longer than the store's hold time without a
// worker taking them.
func (s *Server) sweep() {
	defer s.wg.Done()
	hold := s.shared.Hold()
	t := time.NewTicker(hold / 2)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.closedCh:
			return
		}
		s.mu.Lock()
		cutoff := uint64(s.clock.Now().Add(-hold).UnixNano())
		s.giveBack(s.heldQueued(func(j *job) bool { return j.ref.Seq < cutoff && len(j.clients) == 0 }))
		s.mu.Unlock()
	}
}

// remoteStatus answers GET_STATUS or GET_STATUS_UNIQUE from the shared
// queue when the job is not here. It reports whether it answered. The
// caller must not hold s.mu.
func (s *Server) remoteStatus(c *conn, p wire.Packet) bool {
	arg := p.Args[0]
	s.mu.Lock()
	local := c.gone || (p.Type == wire.GetStatus && s.lookup(arg) != nil) ||
		(p.Type == wire.GetStatusUnique && (len(arg) == 0 || s.localUnique(arg)))
	s.mu.Unlock()
	if local {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var st store.JobStatus
	var err error
	if p.Type == wire.GetStatus {
		id, ok := handleID(arg)
		if !ok {
			return false
		}
		st, err = s.shared.Status(ctx, id)
	} else {
		st, err = s.shared.StatusUnique(ctx, string(arg))
	}
	if err != nil {
		s.logError("job status not read from the shared queue; answered unknown", "arg", string(arg), "err", err)
	}
	known, running := zero, zero
	if st.Known {
		known = one
	}
	if st.Running {
		running = one
	}
	var nb, db [20]byte
	num, den := itoa(nb[:0], st.Num), itoa(db[:0], st.Den)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Type == wire.GetStatus {
		c.send(wire.Res, wire.StatusRes, arg, known, running, num, den)
	} else {
		c.send(wire.Res, wire.StatusResUnique, arg, known, running, num, den, zero)
	}
	return true
}

// localUnique reports whether a job with unique id u is here. s.mu held.
func (s *Server) localUnique(u []byte) bool {
	return s.oldestUnique(string(u)) != nil
}

// remoteCancel cancels a job that is not here in the shared queue, for
// the admin's "cancel job". It reports whether it answered. The caller
// must not hold s.mu.
func (s *Server) remoteCancel(c *conn, h string) bool {
	s.mu.Lock()
	local := s.lookup([]byte(h)) != nil
	s.mu.Unlock()
	id, ok := handleID([]byte(h))
	if local || !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	found, err := s.shared.Cancel(ctx, id)
	switch {
	case err != nil:
		c.sendRaw([]byte("ERR QUEUE_ERROR " + strings.ReplaceAll(err.Error(), " ", "+") + "\r\n"))
	case found:
		c.sendRaw([]byte("OK\r\n"))
	default:
		c.sendRaw([]byte("ERR UNKNOWN_JOB\r\n"))
	}
	return true
}

// handleID returns the number at the end of a handle of any server of the
// cluster (their prefixes differ; the numbers are unique in the cluster).
func handleID(h []byte) (uint64, bool) {
	digits := h[bytes.LastIndexByte(h, ':')+1:]
	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	id, err := strconv.ParseUint(string(digits), 10, 64)
	return id, err == nil
}

// ErrNotCluster is ClusterStatus's error for a server without a shared
// store.
var ErrNotCluster = errors.New("gearman: the server is not on a shared store")

// ClusterStatus counts the whole cluster's jobs by function and lists its
// servers, from the shared store (the other figures count only the jobs
// this server holds). The count may be a few seconds old.
func (s *Server) ClusterStatus(ctx context.Context) (store.ClusterStatus, error) {
	cc, ok := s.shared.(store.ClusterCounter)
	if !ok {
		return store.ClusterStatus{}, ErrNotCluster
	}
	return cc.ClusterStatus(ctx)
}
