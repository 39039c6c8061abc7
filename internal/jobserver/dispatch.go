package jobserver

import (
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// wakeFor NOOPs sleeping workers of f until as many are awake as f has
// queued jobs: one new job wakes one worker, not all of them. Sleepers are
// woken in the order they went to sleep. Grab-high sleepers (grabhigh.go)
// wait in a list of their own, looked at only while f has high jobs, and
// then first, until as many of them are awake as f has high jobs: however
// many of them sleep, a job of another priority costs nothing more. Other
// workers awake do not count there: a plain worker woken for a high job
// may not come to grab it (a pool's slots for other jobs can be full,
// see the root package's PoolOptions.ReservedHigh), and the grab-high
// sleeper would then sleep beside a job it takes at once. A worker awake
// counts until it grabs, goes away, or wakeBound passes (wake.go).
func (s *Server) wakeFor(f *function) {
	if f.highQueued() > 0 {
		f.highSleepers = s.wakeFrom(f, f.highSleepers, true)
	}
	f.sleepers = s.wakeFrom(f, f.sleepers, false)
}

// wakeFrom is wakeFor on one of f's lists of sleepers, the grab-high one
// when high, and returns what is left of it. A connection in the other
// list that cannot take f's jobs (its grab-high option came after it went
// to sleep) moves to f.highSleepers.
func (s *Server) wakeFrom(f *function, list []sleeper, high bool) []sleeper {
	for len(list) > 0 && (high && f.highWoken < f.highQueued() || !high && f.woken < f.queued()) {
		e := list[0]
		list[0] = sleeper{}
		list = list[1:]
		c := e.c
		if c.gone || !c.sleeping || c.noopSent || e.gen != c.sleepGen {
			continue
		}
		if !c.canTake(f) {
			if high {
				// Not reached: f has a high job, and c takes those.
				list = append(list, e)
				break
			}
			f.highSleepers = append(f.highSleepers, e)
			continue
		}
		if c.allYours && !s.draining {
			// ALL_YOURS: the worker said it serves only this server, so the
			// job goes to it directly, without a NOOP and a grab.
			c.sleeping = false
			if j := s.pick(c); j != nil {
				s.assign(c, j, c.grabType)
			}
			continue
		}
		s.woke(c, f)
		c.sendFor(wire.Noop)
	}
	return list
}

// woke counts c's NOOP, about to be sent, in f's wake-ups.
func (s *Server) woke(c *conn, f *function) {
	c.noopSent = true
	c.wokenFor = f
	f.woken++
	s.noteWake(c, f, false)
	if c.highOnly {
		c.wokenHigh = true
		f.highWoken++
	}
}

// takeWake takes c's NOOP out of the wake-ups of the function it was woken
// for, and returns that function: nil when c was not woken or its wake-up
// expired (wake.go).
func (c *conn) takeWake() *function {
	c.s.dropWake(c)
	f := c.wokenFor
	if f == nil {
		return nil
	}
	c.wokenFor = nil
	f.woken--
	if c.wokenHigh {
		c.wokenHigh = false
		f.highWoken--
	}
	return f
}

// preSleep handles PRE_SLEEP: a NOOP at once when work is waiting (the
// same rule as grab uses), otherwise the worker sleeps until a job comes.
func (s *Server) preSleep(c *conn) {
	c.sleeping = true
	c.sleepGen++
	if !s.draining {
		for _, f := range c.funcs {
			if c.canTake(f) {
				if !c.noopSent {
					s.woke(c, f)
					c.send(wire.Res, wire.Noop)
				}
				return
			}
		}
	}
	for _, f := range c.funcs {
		s.addSleeper(f, c)
		s.demand(f)
	}
}

// addSleeper records c as asleep on f, pruning stale entries now and then.
func (s *Server) addSleeper(f *function, c *conn) {
	list := &f.sleepers
	if c.highOnly {
		list = &f.highSleepers
	}
	if len(*list) > 2*f.workers+16 {
		live := (*list)[:0]
		for _, e := range *list {
			if !e.c.gone && e.c.sleeping && !e.c.noopSent && e.gen == e.c.sleepGen {
				live = append(live, e)
			}
		}
		clear((*list)[len(live):])
		*list = live
	}
	*list = append(*list, sleeper{c: c, gen: c.sleepGen})
}

// unwake clears c's wake-up state after a grab or when it goes away, and
// wakes another worker if the function it was woken for still has work.
func (s *Server) unwake(c *conn) {
	c.sleeping = false
	c.noopSent = false
	if f := c.takeWake(); f != nil {
		s.wakeFor(f)
	}
}

// grab answers GRAB_JOB, GRAB_JOB_UNIQ and GRAB_JOB_ALL.
func (s *Server) grab(c *conn, t wire.Type) {
	c.grabType = t
	f := c.takeWake()
	c.sleeping, c.noopSent = false, false
	var j *job
	if !s.draining {
		j = s.pick(c)
	}
	if j == nil {
		c.send(wire.Res, wire.NoJob)
	} else {
		s.assign(c, j, t)
	}
	if f != nil {
		s.wakeFor(f)
	}
}

// pick chooses c's next job as gearmand 2.0 does: the highest priority
// first across all of c's functions; among functions with work at that
// priority, round robin.
func (s *Server) pick(c *conn) *job {
	n := len(c.funcs)
	for p := range c.prios() {
		for k := range n {
			i := (c.rotor + k) % n
			f := c.funcs[i]
			if f.stalled {
				continue
			}
			j := f.queue[p].head
			if x := f.streamq[p].head; c.chunks && x != nil && (j == nil || x.id < j.id) {
				j = x // an extension worker takes stream jobs in order of arrival too
			}
			if j != nil {
				c.rotor = (i + 1) % n
				return j
			}
		}
	}
	return nil
}

// assign hands queued job j to worker c.
func (s *Server) assign(c *conn, j *job, t wire.Type) {
	f := j.fn
	s.start(c, j)
	h := s.appendHandle(s.hbuf[:0], j)
	s.hbuf = h
	s.announceStart(j, h)
	if j.st != nil {
		if c.chunks {
			s.assignStream(c, j, h)
			return
		}
		// A plain worker gets the whole payload, which is complete (see
		// pick): from now on the job is a plain job.
		j.data = s.unspool(j)
		j.st = nil
	}
	// A job's payload never changes: a large one goes by reference.
	switch {
	case t == wire.GrabJob:
		c.sendRef(wire.Res, wire.JobAssign, h, []byte(f.name), j.data)
	case t == wire.GrabJobAll && j.reducer() != "":
		c.sendRef(wire.Res, wire.JobAssignAll, h, []byte(f.name), []byte(j.unique), []byte(j.reducer()), j.data)
	default:
		c.sendRef(wire.Res, wire.JobAssignUniq, h, []byte(f.name), []byte(j.unique), j.data)
	}
}

// work handles the WORK_* packets of a worker; it returns false when the
// connection must close.
func (s *Server) work(c *conn, p wire.Packet) bool {
	j := s.lookup(p.Args[0])
	if j == nil || j.state != stateRunning || j.worker != c {
		switch p.Type {
		case wire.WorkData, wire.WorkWarning:
			c.sendError(errNoJobData)
		case wire.WorkException:
			c.sendError(errNoJobException)
		default:
			c.sendError(errNoJobResult)
		}
		return true
	}
	if j.st != nil {
		switch p.Type {
		case wire.WorkData, wire.WorkComplete:
			if !s.streamResult(c, j, len(p.Args[1])) {
				return false
			}
		}
		switch p.Type {
		case wire.WorkComplete, wire.WorkFail, wire.WorkException:
			j.st.endOut = true // the worker is done with the payload
		}
	}
	switch p.Type {
	case wire.WorkData:
		s.toClientsFrom(c, j, p.Type, p.Args...)
	case wire.WorkWarning:
		s.noteWarning(j, p.Args[1])
		s.toClientsFrom(c, j, p.Type, p.Args...)
	case wire.WorkStatus:
		j.num, _ = strconv.ParseInt(string(p.Args[1]), 10, 64)
		j.den, _ = strconv.ParseInt(string(p.Args[2]), 10, 64)
		if s.shared != nil && j.stored {
			s.shared.Progress(j.id, j.num, j.den)
		}
		s.toClients(j, p.Type, p.Args...)
	case wire.WorkComplete:
		s.toClientsFrom(c, j, p.Type, p.Args...)
		s.mEnded(j, ResultComplete)
		s.finish(j)
	case wire.WorkFail:
		s.toClientsFrom(c, j, p.Type, p.Args...)
		s.mEnded(j, ResultFail)
		s.failed(j, nil)
	case wire.WorkException:
		for _, cl := range j.clients {
			switch {
			case cl.exceptions && c.owned:
				cl.sendRefFor(wire.WorkException, p.Args...)
			case cl.exceptions:
				cl.send(wire.Res, wire.WorkException, p.Args...)
			default:
				cl.send(wire.Res, wire.WorkFail, p.Args[0])
			}
		}
		s.mEnded(j, ResultException)
		s.failed(j, p.Args[1])
	}
	return true
}

// canDo registers function name on c, with a job time limit when d > 0.
func (s *Server) canDo(c *conn, name []byte, d time.Duration) {
	f := s.fn(name)
	c.regs = append(c.regs, reg{fn: f, timeout: d, ext: c.chunks})
	f.workers++
	s.demand(f)
	if c.chunks {
		f.extWorkers++
	}
	s.streamWorker(c, f)
	known := false
	for _, g := range c.funcs {
		if g == f {
			known = true
			break
		}
	}
	if !known {
		c.funcs = append(c.funcs, f)
	}
	if d > 0 {
		if c.timeouts == nil {
			c.timeouts = make(map[*function]time.Duration)
		}
		c.timeouts[f] = d
	} else {
		delete(c.timeouts, f)
	}
	if c.sleeping && !c.noopSent && !known {
		s.addSleeper(f, c)
		s.wakeFor(f)
	}
}

// cantDo removes every registration of name from c and requeues the jobs
// of that function c holds.
func (s *Server) cantDo(c *conn, name []byte) {
	f := s.funcs[string(name)]
	if f == nil {
		return
	}
	s.unregister(c, func(g *function) bool { return g == f })
}

// resetAbilities removes all of c's registrations and requeues its jobs.
func (s *Server) resetAbilities(c *conn) {
	s.unregister(c, func(*function) bool { return true })
}

// unregister drops c's registrations for which match reports true.
func (s *Server) unregister(c *conn, match func(*function) bool) {
	regs := c.regs[:0]
	for _, r := range c.regs {
		if match(r.fn) {
			r.fn.workers--
			s.releaseFunc(r.fn)
			s.demand(r.fn)
			if r.ext {
				r.fn.extWorkers--
				if r.fn.extWorkers == 0 {
					s.regrant(r.fn)
				}
			}
		} else {
			regs = append(regs, r)
		}
	}
	clear(c.regs[len(regs):])
	c.regs = regs
	funcs := c.funcs[:0]
	for _, f := range c.funcs {
		if match(f) {
			delete(c.timeouts, f)
		} else {
			funcs = append(funcs, f)
		}
	}
	clear(c.funcs[len(funcs):])
	c.funcs = funcs
	c.rotor = 0
	for _, j := range append([]*job(nil), c.holding...) {
		if match(j.fn) {
			s.lose(j)
		}
	}
}

// detach removes a closed connection from the engine: its running jobs are
// requeued, its registrations dropped, and the foreground jobs it alone
// waited for and no worker has started are dropped.
func (s *Server) detach(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	delete(s.conns, c)
	s.dropStreams(c)
	s.unregister(c, func(*function) bool { return true })
	if f := c.takeWake(); f != nil {
		s.wakeFor(f)
	}
	for j := range c.attached {
		kept := j.clients[:0]
		for _, x := range j.clients {
			if x != c {
				kept = append(kept, x)
			}
		}
		clear(j.clients[len(kept):])
		j.clients = kept
		if len(kept) == 0 && !j.bg && j.state != stateRunning {
			s.mEnded(j, ResultCancelled)
			s.free(j)
		}
	}
	c.attached = nil
	s.untouchAll(c)
}

// itoa appends n in decimal to dst.
func itoa(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
