package jobserver

import (
	"bytes"
	"container/heap"
	"time"

	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file is the life of a job: every change of its state, and the
// store's record of each change for the jobs that are stored.
//
//	          submit ──► pending ──(record durable)──┐
//	             │          └─(write failed)──► done │
//	             ▼                                   ▼
//	  waiting ◄─────────────── place ────────────► queued ◄───────┐
//	     └──(its time comes)─────────────────────────┘ │         │
//	                                                  start      lose
//	                                                   ▼         │
//	                                                 running ────┘
//	                                                   └─ finish ──► done
//	                                                      (a scheduled job: waiting)
//
// A job is stored when the server has a store and the job is background
// (plain, epoch, scheduled or reduce); a foreground job lives and dies
// with its clients' connections. Streamed payloads (SUBMIT_STREAM) are
// never stored.

// jobState is where a job is in its life.
type jobState int8

const (
	statePending jobState = iota // stored, its record not yet durable: in no list, not handed out
	stateQueued                  // in its function's priority list
	stateWaiting                 // an epoch or scheduled job whose time has not come
	stateRunning                 // assigned to a worker
	stateDone                    // freed: in no list, unknown to the engine
	stateDead                    // a dead letter: in the dead-letter list only (deadletters.go)
)

// place puts a new, replayed or activated job where it belongs: waiting
// for its time, or queued.
func (s *Server) place(j *job) { s.placeAt(j, s.clock.Now()) }

// placeAt is place at time now.
func (s *Server) placeAt(j *job, now time.Time) {
	switch {
	case j.sched() != nil && j.failInfo() != nil:
		// A failed run waiting for its retry (failed.go), or running it
		// when the server stopped: the retry's time is the job's, not
		// the schedule's.
		if j.when > now.Unix() {
			s.wait(j, j.when)
		} else {
			s.enqueue(j)
		}
	case j.sched() != nil:
		s.wait(j, j.sched().next(now))
	case j.when > now.Unix():
		s.wait(j, j.when)
	default:
		s.enqueue(j)
	}
}

// enqueue puts j at the tail of its priority list and wakes a worker.
func (s *Server) enqueue(j *job) {
	j.state = stateQueued
	s.mQueued(j)
	j.fn.queue[j.prio].pushBack(j)
	s.wakeFor(j.fn)
}

// wait parks j until Unix time when, then queues it.
func (s *Server) wait(j *job, when int64) {
	j.state = stateWaiting
	j.when = when
	j.fn.waiting++
	heap.Push(&s.timed, j)
	s.armTimer()
}

// unwait takes a waiting job out of the heap.
func (s *Server) unwait(j *job) {
	if j.heapi >= 0 {
		heap.Remove(&s.timed, int(j.heapi))
	}
	j.fn.waiting--
	s.armTimer()
}

// fireTimed queues every waiting job whose time has come, waking workers.
func (s *Server) fireTimed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.timer = nil
	now := s.unixNow()
	for len(s.timed) > 0 && s.timed[0].when <= now {
		j := heap.Pop(&s.timed).(*job)
		j.fn.waiting--
		s.enqueue(j)
	}
	s.armTimer()
}

// start takes queued job j out of its list and makes it c's.
func (s *Server) start(c *conn, j *job) {
	f := j.fn
	if j.st != nil && j.st.inExt {
		f.streamq[j.prio].remove(j)
		j.st.inExt = false
	} else {
		f.queue[j.prio].remove(j)
	}
	s.mStarted(j)
	j.state = stateRunning
	j.worker = c
	f.running++
	s.running++
	c.holding = append(c.holding, j)
	if d := c.timeouts[f]; d > 0 {
		rt := new(runTimer)
		rt.h = s.clock.AfterFunc(d, func() { s.jobTimeout(j, c, rt) })
		j.timer = rt
	}
	if j.stored {
		s.store.Assigned(j.ref, j.id)
	}
	s.demand(f)
}

// release takes running job j back from its worker.
func (s *Server) release(j *job) {
	if j.timer != nil {
		j.timer.h.Stop()
		j.timer = nil
	}
	if c := j.worker; c != nil {
		if st := j.st; st != nil && st.ext && !st.endOut && !c.gone {
			// The payload will not complete: tell the worker.
			st.endOut = true
			s.hbuf = s.appendHandle(s.hbuf[:0], j)
			c.send(wire.Res, wire.StreamAbort, s.hbuf)
		}
		for i, x := range c.holding {
			if x == j {
				last := len(c.holding) - 1
				c.holding[i] = c.holding[last]
				c.holding[last] = nil
				c.holding = c.holding[:last]
				break
			}
		}
	}
	j.worker = nil
	if j.extra != nil {
		j.extra.warning = "" // of the attempt that ended (failed.go)
	}
	j.fn.running--
	s.running--
	s.checkDrained()
}

// lose handles a running job whose worker went away (disconnect, CANT_DO,
// RESET_ABILITIES): it is queued again at the tail of its list, or fails
// for its clients once Config.JobRetries attempts are used up. A foreground
// job nobody waits for any more is dropped. A foreground job of a worker
// that negotiated streaming fails at once (WORK_FAIL): its clients may have
// had some of its WORK_DATA, and a rerun would send it again.
func (s *Server) lose(j *job) {
	streaming := j.worker != nil && j.worker.streaming
	s.release(j)
	j.retries++
	j.num, j.den = 0, 0
	switch {
	case j.canceled || (len(j.clients) == 0 && !j.bg):
		s.mEnded(j, ResultCancelled)
		s.free(j)
	case streaming && (!j.bg || j.st != nil):
		// A stream job cannot run again either: its payload has gone.
		s.mEnded(j, ResultFail)
		s.failClients(j)
		s.free(j)
	case s.cfg.JobRetries > 0 && int(j.retries) >= s.cfg.JobRetries:
		s.logWarn("job failed: retries exhausted", "handle", s.handleString(j), "retries", j.retries)
		s.mEnded(j, ResultFail)
		s.failClients(j)
		if s.keepLost(j) {
			return
		}
		s.free(j)
	default:
		s.mRequeued(j)
		if j.stored {
			j.ref = s.store.Requeued(j.ref, j.id, j.retries)
		}
		s.enqueue(j)
	}
}

// finish ends running job j after its result was forwarded. A scheduled
// job waits for its next run instead of ending.
func (s *Server) finish(j *job) {
	s.release(j)
	s.ended(j)
}

// ended is finish for a job already released.
func (s *Server) ended(j *job) {
	if j.sched() != nil && !j.canceled {
		j.num, j.den = 0, 0
		s.detachClients(j)
		next := j.sched().next(s.clock.Now())
		switch {
		case j.failInfo() != nil:
			// The run ended after failed attempts (failed.go): the next
			// run has its retries anew, and the stored record, which
			// holds the failures and the retry's time, is replaced by
			// one without.
			j.extra.fail = nil
			if j.stored {
				var sj store.Job
				s.toStored(j, &sj)
				sj.When = next
				j.ref = s.store.Failed(j.ref, sj)
			}
		case j.stored:
			s.store.RunEnded(j.ref, j.id, next)
		}
		if s.shared != nil && j.stored {
			// It waits in the shared queue: any server runs it next.
			j.stored = false
			s.free(j)
			return
		}
		s.wait(j, next)
		return
	}
	s.free(j)
}

// jobTimeout runs when a CAN_DO_TIMEOUT expires: the job fails for its
// clients (WORK_FAIL), and a late result from the worker gets
// JOB_NOT_FOUND. A scheduled job waits for its next run.
func (s *Server) jobTimeout(j *job, c *conn, rt *runTimer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || j.state != stateRunning || j.worker != c || j.timer != rt {
		return
	}
	j.timer = nil
	s.logWarn("job timed out", "handle", s.handleString(j), "function", j.fn.name, "worker", c.id)
	s.mEnded(j, ResultTimeout)
	s.failClients(j)
	s.finish(j)
}

// free forgets j wherever it is, and records its end.
func (s *Server) free(j *job) {
	f := j.fn
	switch {
	case j.state == stateQueued && j.st != nil && j.st.inExt:
		f.streamq[j.prio].remove(j)
		j.st.inExt = false
	case j.state == stateQueued:
		f.queue[j.prio].remove(j)
	case j.state == stateWaiting:
		s.unwait(j)
	case j.state == stateRunning && j.worker != nil: // not yet released
		s.release(j)
	case j.state == statePending:
		s.removePending(j)
	}
	j.state = stateDone
	if j.st != nil {
		s.unstream(j)
	}
	if j.stored {
		j.stored = false
		s.store.Finished(j.ref, j.id)
	}
	s.forget(j)
}

// forget removes a job that is in no list from the engine's maps and
// detaches its clients.
func (s *Server) forget(j *job) {
	f := j.fn
	delete(s.jobs, j.id)
	f.total--
	if k := j.key(); k != "" {
		s.unindexUnique(j, k)
	}
	s.detachClients(j)
	s.forgetIfUnused(f)
}

// detachClients removes every client of j.
func (s *Server) detachClients(j *job) {
	for _, c := range j.clients {
		if n := c.attached[j]; n > 1 {
			c.attached[j] = n - 1
		} else {
			delete(c.attached, j)
		}
	}
	j.clients = nil
}

// failClients sends WORK_FAIL for j to its clients.
func (s *Server) failClients(j *job) {
	if len(j.clients) == 0 {
		return
	}
	s.hbuf = s.appendHandle(s.hbuf[:0], j)
	s.toClients(j, wire.WorkFail, s.hbuf)
}

// persist writes j's record to the store: j becomes stored. It returns the
// record's commit, which the reply to the submit waits for. The store may
// write a large payload from j.data itself, after persist returns: a job's
// data is never changed in place.
func (s *Server) persist(j *job, seq uint64) store.Commit {
	var sj store.Job
	s.toStored(j, &sj)
	sj.Held = j.held
	ref, commit := s.store.Created(sj, seq)
	j.stored, j.ref = true, ref
	return commit
}

// toStored fills sj with j's state.
func (s *Server) toStored(j *job, sj *store.Job) {
	*sj = store.Job{
		ID: j.id, Func: j.fn.name, Unique: j.unique, Data: j.data, Reducer: j.reducer(),
		Priority: j.prio, Retries: j.retries, Created: j.created,
	}
	if fl := j.failInfo(); fl != nil {
		sj.Failures, sj.Error, sj.FirstFailed, sj.LastFailed = fl.n, fl.err, fl.first, fl.last
	}
	if j.state == stateDead {
		sj.Dead = true
		sj.Schedule = ""
		return
	}
	switch {
	case j.sched() != nil:
		sj.Schedule = j.sched().spec
		sj.When = j.when
		if j.state != stateWaiting {
			sj.When = j.sched().next(s.clock.Now())
		}
	case j.state == stateWaiting || j.state == statePending:
		sj.When = j.when
	}
}

// activate makes a pending job whose record is durable runnable.
func (s *Server) activate(j *job) {
	if j.state == statePending {
		s.removePending(j)
		if s.shared != nil && !j.held {
			s.handOver(j)
			return
		}
		if j.held {
			j.fn.heldPending--
		}
		s.place(j)
	}
}

// abandon drops a pending job that was not stored: its record could not
// be written (its submit never succeeded), or a shared queue had a job
// with its unique id, which the submit joined. Its foreground clients
// (attached by unique id meanwhile) get WORK_FAIL.
func (s *Server) abandon(j *job) {
	if j.state != statePending {
		return
	}
	s.removePending(j)
	if j.held {
		j.fn.heldPending--
	}
	s.handOver(j)
}

// cancel cancels j for the admin: its clients get WORK_FAIL at once; a
// queued or waiting job is removed at once; a running one finishes on its
// worker, and its result goes nowhere.
func (s *Server) cancel(j *job) {
	s.mEnded(j, ResultCancelled)
	s.failClients(j)
	if j.state == stateRunning {
		j.canceled = true
		s.detachClients(j)
	} else {
		s.free(j)
	}
}

// Relog writes again the stored jobs among ids whose record is in segment
// seg (see store.Relogger).
func (s *Server) Relog(seg uint32, ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, id := range ids {
		j := s.jobs[id]
		if j == nil {
			j = s.dead[id]
		}
		if j == nil || !j.stored || j.ref.Seg != seg {
			continue
		}
		s.persist(j, j.ref.Seq)
		if j.state == stateRunning {
			s.store.Assigned(j.ref, j.id)
		}
	}
}

// replay loads the store's jobs into the engine, before anything else runs.
// It gathers them first, so that the maps of jobs and of unique ids are
// made at their final sizes: growing a map of a million jobs step by step
// costs more than the rest of the replay.
func (s *Server) replay() {
	var jobs []*job
	keyed := 0
	maxID := s.store.Replay(func(sj *store.Job, ref store.Ref) {
		j := s.storedJob(sj, ref)
		if j == nil {
			return
		}
		if sj.Dead {
			s.replayDead(j)
			return
		}
		if sj.Lost && s.cfg.JobRetries > 0 && int(j.retries) >= s.cfg.JobRetries {
			s.logWarn("stored job failed: retries exhausted (its last attempt was running when the server stopped)", "handle", s.handleString(j), "retries", j.retries)
			s.store.Finished(ref, j.id)
			return
		}
		if sj.Lost {
			s.store.Requeued(ref, j.id, j.retries)
		}
		if j.unique != "" {
			keyed++
		}
		jobs = append(jobs, j)
	})
	if len(s.jobs) == 0 {
		s.jobs = make(map[uint64]*job, len(jobs))
	}
	if len(s.uniques) == 0 {
		s.uniques = make(map[string]*job, keyed)
	}
	now := s.clock.Now()
	for i, j := range jobs {
		jobs[i] = nil
		s.register(j)
		s.placeAt(j, now)
	}
	s.nextJob = max(s.nextJob, maxID)
}

// storedJob makes the job of a replayed or claimed record, or returns nil
// for one whose schedule does not parse (dropped from the store).
func (s *Server) storedJob(sj *store.Job, ref store.Ref) *job {
	j := &job{
		id: sj.ID, fn: s.fn([]byte(sj.Func)), unique: sj.Unique, data: sj.Data,
		prio: sj.Priority, bg: true, heapi: -1, retries: sj.Retries, created: sj.Created,
		when: sj.When, stored: true, ref: ref,
	}
	var sc *schedule
	if sj.Schedule != "" {
		var err error
		if sc, err = parseSchedule(bytes.Fields([]byte(sj.Schedule))); err != nil {
			s.logError("stored job has a bad schedule; dropped", "handle", s.handleString(j), "schedule", sj.Schedule)
			s.store.Finished(j.ref, j.id)
			s.forgetIfUnused(j.fn)
			return nil
		}
	}
	j.extra = newExtra(sj.Reducer, sc)
	if sj.Failures != 0 || sj.Error != "" || sj.FirstFailed != 0 {
		if j.extra == nil {
			j.extra = &jobExtra{}
		}
		j.extra.fail = &failure{n: sj.Failures, err: sj.Error, first: sj.FirstFailed, last: sj.LastFailed}
	}
	return j
}

// register adds a stored job to the engine's maps.
func (s *Server) register(j *job) {
	s.jobs[j.id] = j
	j.fn.total++
	if k := j.key(); k != "" {
		s.indexUniqueFirst(j, k)
	}
}
