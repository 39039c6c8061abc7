package jobserver

import "time"

// wakeBound is how long a NOOP keeps its place in its function's wake-ups
// (function.woken, highWoken) without a grab after it. A live worker
// answers a NOOP with GRAB_JOB in micro- to milliseconds, tens of them on
// a loaded machine or in a GC pause; one that has not within half a second
// is frozen (SIGSTOP, swap, a stuck event loop), hostile or buggy, or busy
// elsewhere (a pool whose slots are full). Its wake-up then stops
// counting, and the next sleeper of the function is woken: a job waits at
// most wakeBound per such worker woken for it. Waking one more worker too
// early costs only a GRAB_JOB answered with NO_JOB.
const wakeBound = 500 * time.Millisecond

// wakeRec records a wake-up: c was sent NOOP for f at (since
// Server.wakeBase), with wake-up id seq. It is current while c.wakeID is
// seq: until c grabs, goes away or the wake-up expires.
type wakeRec struct {
	c   *conn
	f   *function
	seq uint64
	at  time.Duration
	ext bool // a stream job's wake-up (wakeExt), not counted in f.woken
}

// current reports whether r's wake-up is still outstanding.
func (r *wakeRec) current() bool { return r.c.wakeID == r.seq }

// noteWake records c's wake-up for f, just made, in the server's FIFO of
// wake-ups, and arms the expiry timer if it is not. The bound being
// constant, the FIFO is in time order; records no longer current are
// dropped lazily, at the head here and when the timer fires, and all of
// them when they outnumber the current ones, so that the FIFO stays as
// short as the wake-ups outstanding: in the common case, where each
// wake-up is consumed at once, one or two records.
func (s *Server) noteWake(c *conn, f *function, ext bool) {
	s.dropWake(c) // not reached: noopSent keeps c from a second wake-up
	s.wakeSeq++
	c.wakeID = s.wakeSeq
	s.nWoken++
	s.pruneWakes()
	if n := len(s.wakes) - s.wakeHead; n > 2*s.nWoken+16 {
		live := s.wakes[:0]
		for _, r := range s.wakes[s.wakeHead:] {
			if r.current() {
				live = append(live, r)
			}
		}
		clear(s.wakes[len(live):])
		s.wakes, s.wakeHead = live, 0
	} else if s.wakeHead > 0 && len(s.wakes) == cap(s.wakes) {
		m := copy(s.wakes, s.wakes[s.wakeHead:])
		clear(s.wakes[m:])
		s.wakes, s.wakeHead = s.wakes[:m], 0
	}
	now := s.clock.Now()
	if s.wakeBase.IsZero() {
		s.wakeBase = now
	}
	s.wakes = append(s.wakes, wakeRec{c: c, f: f, seq: c.wakeID, at: now.Sub(s.wakeBase), ext: ext})
	if s.wakeTimer == nil && !s.closed {
		// No timer: the FIFO was empty, this record is its head.
		s.wakeTimer = s.clock.AfterFunc(wakeBound, s.expireWakes)
	}
}

// pruneWakes drops the records at the FIFO's head that are no longer
// current.
func (s *Server) pruneWakes() {
	for s.wakeHead < len(s.wakes) && !s.wakes[s.wakeHead].current() {
		s.wakes[s.wakeHead] = wakeRec{}
		s.wakeHead++
	}
	if s.wakeHead == len(s.wakes) {
		s.wakes, s.wakeHead = s.wakes[:0], 0
	}
}

// dropWake ends c's current wake-up, if any, in the FIFO's count.
func (s *Server) dropWake(c *conn) {
	if c.wakeID != 0 {
		c.wakeID = 0
		s.nWoken--
	}
}

// expireWakes runs on the expiry timer: each wake-up older than wakeBound
// stops counting, and the function it was for wakes its next sleeper.
// The connection keeps noopSent: it was told, and a late grab gets a job
// or NO_JOB. The timer is armed again for the new head, if any.
func (s *Server) expireWakes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	// s.wakeTimer stays set meanwhile, so that the wake-ups made here do
	// not arm a timer of their own.
	due := s.clock.Now().Sub(s.wakeBase) - wakeBound
	for s.wakeHead < len(s.wakes) {
		r := s.wakes[s.wakeHead]
		if r.current() && r.at > due {
			break
		}
		s.wakes[s.wakeHead] = wakeRec{}
		s.wakeHead++
		if !r.current() {
			continue
		}
		s.logDebug("wake-up expired", "conn", r.c.id, "function", r.f.name)
		if r.ext {
			s.dropWake(r.c)
			s.wakeExt(r.f)
		} else if f := r.c.takeWake(); f != nil {
			s.wakeFor(f)
		}
	}
	s.wakeTimer = nil
	s.pruneWakes()
	if s.wakeHead < len(s.wakes) {
		s.wakeTimer = s.clock.AfterFunc(s.wakes[s.wakeHead].at-due, s.expireWakes)
	}
}
