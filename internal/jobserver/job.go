package jobserver

import (
	"strconv"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// Priority levels, in the order a worker is served.
const (
	prioHigh = iota
	prioNormal
	prioLow
	nPrio
)

// A job is one unit of work. Every field is guarded by Server.mu.
type job struct {
	id      uint64 // the handle is Config.HandlePrefix + ":" + id
	fn      *function
	unique  string // as submitted ("" = none)
	data    []byte
	extra   *jobExtra // what few jobs have, or nil
	created int64     // Unix nanoseconds of its first submit
	ref     store.Ref // where the store keeps it, while stored

	when int64 // Unix seconds before which an epoch job does not run; 0 = now

	prev, next   *job // links in fn.queue[prio] while queued, in Server.pending while pending
	uprev, unext *job // links in the chain of its key while indexed (unique.go)

	worker   *conn     // holder while running
	timer    *runTimer // CAN_DO_TIMEOUT timer while running, or nil
	num, den int64

	clients []*conn        // attached foreground clients; one entry per submit
	st      *jstream       // the payload stream of a SUBMIT_STREAM job, else nil
	commit  *pendingCommit // the record it waits for while pending, else nil

	heapi    int32 // index in Server.timed while waiting; -1 otherwise
	retries  int32
	prio     int8
	state    jobState
	bg       bool // submitted or joined by a background submit: never dropped for lack of clients
	stored   bool // its record is in the store (see lifecycle.go)
	held     bool // with a shared store: held by this server (see cluster.go)
	canceled bool // cancelled by the admin while running: results go nowhere

	since int64 // when queued, then when started, while metrics count (metrics.go's mNow); 0 = unknown
}

// jobExtra holds the fields that few jobs set, out of line, so that a
// plain job stays within its allocation size class (224 bytes; see
// TestJobSize).
type jobExtra struct {
	reducer string    // a reduce job's reducer
	sched   *schedule // a recurring SUBMIT_JOB_SCHED job's schedule
	fail    *failure  // its failures, when its function keeps them (failed.go)
	warning string    // its running attempt's last WORK_WARNING, when its function keeps failures
}

// newExtra returns the jobExtra for reducer and sc, or nil when both are
// unset.
func newExtra(reducer string, sc *schedule) *jobExtra {
	if reducer == "" && sc == nil {
		return nil
	}
	return &jobExtra{reducer: reducer, sched: sc}
}

// reducer returns a reduce job's reducer, or "".
func (j *job) reducer() string {
	if j.extra == nil {
		return ""
	}
	return j.extra.reducer
}

// sched returns a recurring job's schedule, or nil.
func (j *job) sched() *schedule {
	if j.extra == nil {
		return nil
	}
	return j.extra.sched
}

// key returns j's coalescing key in the unique index (see uniqueKey), or "" when
// it does not coalesce. For gearmand's "-" it is made anew each time.
func (j *job) key() string {
	switch {
	case j.unique == "":
		return ""
	case j.unique == "-":
		if len(j.data) == 0 {
			return ""
		}
		return "\x00" + string(j.data)
	}
	return j.unique
}

// timerHandle is the part of clock.Timer the engine uses.
type timerHandle interface{ Stop() bool }

// runTimer is the CAN_DO_TIMEOUT timer of one assignment. A timeout whose
// job no longer points at its runTimer is stale (the job was released, or
// assigned again), which is how jobTimeout tells. Out of line, it costs
// only the jobs whose workers set a timeout.
type runTimer struct{ h timerHandle }

// appendHandle appends the job's handle to dst.
func (s *Server) appendHandle(dst []byte, j *job) []byte {
	dst = append(dst, s.prefix...)
	return strconv.AppendUint(dst, j.id, 10)
}

// handleString returns the job's handle as a string.
func (s *Server) handleString(j *job) string { return string(s.appendHandle(nil, j)) }

// lookup finds a live job by handle, or returns nil.
func (s *Server) lookup(h []byte) *job {
	if len(h) <= len(s.prefix) || string(h[:len(s.prefix)]) != s.prefix {
		return nil
	}
	digits := h[len(s.prefix):]
	if len(digits) > 1 && digits[0] == '0' {
		return nil
	}
	id, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return nil
	}
	return s.jobs[id]
}

// jobList is an intrusive FIFO of queued jobs.
type jobList struct {
	head, tail *job
	n          int
}

func (l *jobList) pushBack(j *job) {
	j.prev, j.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = j
	} else {
		l.head = j
	}
	l.tail = j
	l.n++
}

func (l *jobList) remove(j *job) {
	if j.prev != nil {
		j.prev.next = j.next
	} else {
		l.head = j.next
	}
	if j.next != nil {
		j.next.prev = j.prev
	} else {
		l.tail = j.prev
	}
	j.prev, j.next = nil, nil
	l.n--
}

// A function is everything the server knows about one function name.
// Every field is guarded by Server.mu.
type function struct {
	name     string
	queue    [nPrio]jobList
	total    int // jobs of this function in any state, running included
	running  int
	waiting  int        // epoch and scheduled jobs whose time has not come
	workers  int        // registrations, duplicates included
	maxQueue [nPrio]int // 0 = no limit
	sleepers []sleeper  // workers asleep on this function, oldest first (lazily pruned)
	// highSleepers are the grab-high ones (grabhigh.go), apart so that
	// wake-ups for other jobs never look at them.
	highSleepers []sleeper
	woken        int // sleepers NOOPed for this function that have not grabbed yet, for at most wakeBound (wake.go)
	// highWoken is how many of woken are grab-high connections: high jobs
	// wake grab-high sleepers by this count alone (see wakeFor).
	highWoken int
	stalled   bool // jobs are not handed out (gearmantest's Stall)

	heldPending int // with a shared store: held jobs of this function whose records are not yet durable

	streamq    [nPrio]jobList // stream jobs whose payload is incomplete: for extension workers only
	extWorkers int            // registrations by connections with the streaming extension

	users int  // open connections that registered or submitted to it (names.go)
	kept  bool // made or configured by an admin: not forgotten when unused (forgetIfUnused)

	stats *funcStats // its metrics label's counters, once counted (metrics.go)

	retry *RetryPolicy // its own retry policy (failed.go); nil = the server's
	dead  int          // its dead letters (deadletters.go)
}

// sleeper is an entry of function.sleepers; it is stale when the
// connection's sleep generation has moved on.
type sleeper struct {
	c   *conn
	gen uint64
}

// queued returns the number of jobs waiting in the function's lists that
// can be handed out: none while the function is stalled.
func (f *function) queued() int {
	if f.stalled {
		return 0
	}
	return f.queue[0].n + f.queue[1].n + f.queue[2].n
}

// fn returns the function called name, creating it.
func (s *Server) fn(name []byte) *function {
	if f := s.funcs[string(name)]; f != nil {
		return f
	}
	f := &function{name: string(name), maxQueue: s.defaultMaxQueue}
	s.funcs[f.name] = f
	return f
}

// unixNow returns the clock's time in Unix seconds.
func (s *Server) unixNow() int64 { return s.clock.Now().Unix() }
