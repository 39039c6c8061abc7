package jobserver

import (
	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// submitReq is a decoded SUBMIT_* request. Its slices alias the read buffer.
type submitReq struct {
	fn, unique, data, reducer []byte
	when                      int64     // SUBMIT_JOB_EPOCH's time
	sched                     *schedule // SUBMIT_JOB_SCHED's spec
	schedArgs                 [][]byte  // SUBMIT_JOB_SCHED's five fields, for the Observer
}

// submitKind returns the queue (prioHigh, prioNormal, prioLow) of a job
// submitted with type t, and whether it is background.
func submitKind(t wire.Type) (prio int, bg bool) {
	switch t.Priority() {
	case wire.PriorityHigh:
		prio = prioHigh
	case wire.PriorityLow:
		prio = prioLow
	default:
		prio = prioNormal
	}
	return prio, t.Background()
}

// uniqueKey returns the coalescing key of a unique id: none for an empty
// one, and for gearmand's "-" the workload itself (keys from "-" start with
// a NUL, which a real unique cannot hold).
func uniqueKey(unique, data []byte) string {
	switch {
	case len(unique) == 0:
		return ""
	case len(unique) == 1 && unique[0] == '-':
		if len(data) == 0 {
			return ""
		}
		return "\x00" + string(data)
	}
	return string(unique)
}

// submit creates a job, or attaches the request to the job with the same
// unique id, and answers JOB_CREATED or ERROR. With a store, the answer to
// a background submit waits until the job's record is durable (see
// awaitAcks).
func (s *Server) submit(c *conn, t wire.Type, r submitReq) {
	if s.draining {
		s.refuse(c, errShuttingDown)
		return
	}
	if len(r.unique) > wire.MaxUnique {
		s.refuse(c, errUniqueTooLarge)
		return
	}
	prio, bg := submitKind(t)
	if c.streaming && !bg && len(r.unique) > 0 {
		s.refuse(c, errUniqueStreaming)
		return
	}
	if bg && s.store != nil {
		if err := s.store.Healthy(); err != nil {
			s.refuse(c, queueError(err))
			return
		}
	}
	f := s.fn(r.fn)
	key := uniqueKey(r.unique, r.data)
	if key != "" {
		if j := s.uniqueJob(f, key); j != nil {
			var commit store.Commit
			switch {
			case !bg:
				s.attach(c, j)
			case j.state == statePending:
				commit = j.commit.c
			case s.store != nil && !j.stored && j.st == nil:
				// A foreground job becomes background: from now on it
				// is stored, and held here, where its clients are.
				j.held = s.shared != nil
				commit = s.persist(j, 0)
			}
			if bg {
				j.bg = true
			}
			s.ack(c, j, commit)
			if !bg {
				s.announceJoined(c, j)
			}
			s.recordSubmit(t, &r, j)
			s.mCoalesced(f)
			return
		}
	}
	if lim := f.maxQueue[prio]; lim > 0 && f.total >= lim {
		s.refuse(c, errQueueFull)
		return
	}
	s.nextJob++
	unique := key // shared with the key unless the key is a workload
	if len(key) == 0 || key[0] == 0 {
		unique = string(r.unique)
	}
	j := &job{
		id:      s.nextJob,
		fn:      f,
		unique:  unique,
		data:    ownData(c, r.data),
		extra:   newExtra(string(r.reducer), r.sched),
		prio:    int8(prio),
		bg:      bg,
		heapi:   -1,
		when:    r.when,
		created: s.clock.Now().UnixNano(),
	}
	s.jobs[j.id] = j
	f.total++
	if key != "" {
		s.indexUnique(j, key)
	}
	if !bg {
		s.attach(c, j)
	}
	var commit store.Commit
	if bg && s.store != nil {
		j.state = statePending
		if s.shared != nil && s.holdsNew(f, &r) {
			j.held = true
			f.heldPending++
		}
		commit = s.persist(j, 0)
		s.addPending(j, commit)
	}
	s.ack(c, j, commit)
	s.recordSubmit(t, &r, j)
	s.mSubmitted(f)
	if commit == nil {
		s.place(j)
	}
}

// replyCreated sends JOB_CREATED for j to c.
func (s *Server) replyCreated(c *conn, j *job) {
	s.hbuf = s.appendHandle(s.hbuf[:0], j)
	c.send(wire.Res, wire.JobCreated, s.hbuf)
}

// attach makes c one more client of j.
func (s *Server) attach(c *conn, j *job) {
	j.clients = append(j.clients, c)
	if c.attached == nil {
		c.attached = make(map[*job]int)
	}
	c.attached[j]++
}

// toClients sends a packet about j to each attached client.
func (s *Server) toClients(j *job, t wire.Type, args ...[]byte) {
	for _, c := range j.clients {
		c.sendFor(t, args...)
	}
}

// ownData returns a submit's payload for its job to keep: the request's own
// memory when it was read into memory of its own (conn.owned), else a copy.
func ownData(c *conn, data []byte) []byte {
	if c.owned && cap(data) <= len(data)+len(data)/8+4096 {
		return data[:len(data):len(data)]
	}
	// A copy, also when the kept buffer grew well past the payload: a
	// queued job holds no more than its payload.
	return append([]byte(nil), data...)
}

// getStatus answers GET_STATUS.
func (s *Server) getStatus(c *conn, h []byte) {
	j := s.lookup(h)
	if j == nil {
		c.send(wire.Res, wire.StatusRes, h, zero, zero, zero, zero)
		return
	}
	known, running := one, zero
	if j.state == stateRunning {
		running = one
	}
	var nb, db [20]byte
	c.send(wire.Res, wire.StatusRes, h, known, running, itoa(nb[:0], j.num), itoa(db[:0], j.den))
}

// getStatusUnique answers GET_STATUS_UNIQUE. Like gearmand it looks the
// unique id up under every function; of several jobs with this unique id,
// the oldest answers, so that the answer does not depend on map order. It
// is one lookup in the unique index (unique.go).
func (s *Server) getStatusUnique(c *conn, u []byte) {
	var j *job
	if len(u) > 0 {
		j = s.oldestUnique(string(u))
	}
	if j == nil {
		c.send(wire.Res, wire.StatusResUnique, u, zero, zero, zero, zero, zero)
		return
	}
	running := zero
	if j.state == stateRunning {
		running = one
	}
	var nb, db, cb [20]byte
	c.send(wire.Res, wire.StatusResUnique, u, one, running, itoa(nb[:0], j.num), itoa(db[:0], j.den), itoa(cb[:0], int64(len(j.clients))))
}

var (
	zero = []byte("0")
	one  = []byte("1")
)

// inlineSubmit reports whether t submits a job whose function, unique id
// and payload are in the packet: any submit but SUBMIT_STREAM, whose
// packets carry the job's submit type and payload.
func inlineSubmit(t wire.Type) bool { return t.IsSubmit() && t != wire.SubmitStream }
