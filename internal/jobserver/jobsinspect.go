package jobserver

import "time"

// JobInfo is a snapshot of one job, for the status page and its API.
type JobInfo struct {
	Handle     string
	Unique     string // "" when none
	Priority   string // "high", "normal" or "low"
	State      string // "running", "queued", "waiting" (for its time) or "pending" (its record not yet durable)
	Background bool
	Retries    int       // attempts lost so far
	Created    time.Time // its first submit
	When       time.Time // an epoch or scheduled job's next time, else zero
	Worker     int       // the connection running it (ConnInfo.ID), else 0
}

var prioNames = [nPrio]string{"high", "normal", "low"}

// Jobs returns the first limit jobs of the function called name: the
// running ones, then the queued ones in the order they will run (by
// priority), then those waiting for their time, then the pending ones. Its
// cost grows with limit and with the jobs running, waiting or pending in
// the whole server, not with the queued ones.
func (s *Server) Jobs(name string, limit int) []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.funcs[name]
	if f == nil || limit <= 0 {
		return nil
	}
	var out []JobInfo
	add := func(j *job, state string) bool {
		if len(out) >= limit {
			return false
		}
		ji := JobInfo{
			Handle: s.handleString(j), Unique: j.unique, Priority: prioNames[j.prio], State: state,
			Background: j.bg, Retries: int(j.retries), Created: time.Unix(0, j.created),
		}
		if j.state == stateWaiting {
			ji.When = time.Unix(j.when, 0)
		}
		if j.worker != nil {
			ji.Worker = j.worker.id
		}
		out = append(out, ji)
		return true
	}
	for _, c := range s.sortedConns() {
		for _, j := range c.holding {
			if j.fn == f && !add(j, "running") {
				return out
			}
		}
	}
	for p := range nPrio {
		for _, l := range []*jobList{&f.queue[p], &f.streamq[p]} {
			for j := l.head; j != nil; j = j.next {
				if !add(j, "queued") {
					return out
				}
			}
		}
	}
	for _, j := range s.timed {
		if j.fn == f && !add(j, "waiting") {
			return out
		}
	}
	for j := s.pending.head; j != nil; j = j.next {
		if j.fn == f && !add(j, "pending") {
			return out
		}
	}
	return out
}

// FuncStatus is a snapshot of one function for the status page: its state
// and, while metrics count, its jobs finished so far.
type FuncStatus struct {
	FuncInfo
	Total    int       // jobs in any state
	Oldest   time.Time // when its longest-queued job was queued; zero when none is known (metrics off)
	Finished uint64    // jobs (and scheduled runs) ended, any result; counted only for a function with a label of its own
	Counted  bool      // Finished is counted (metrics on, and the function has a label of its own)
}

// Status returns the state of every function, by name, the number of
// connections and the engine's time.
func (s *Server) Status() (funcs []FuncStatus, conns int, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.sortedFuncs() {
		fs := FuncStatus{FuncInfo: FuncInfo{
			Name: f.name, High: f.queue[prioHigh].n + f.streamq[prioHigh].n,
			Normal: f.queue[prioNormal].n + f.streamq[prioNormal].n, Low: f.queue[prioLow].n + f.streamq[prioLow].n,
			Running: f.running, Waiting: f.waiting, Workers: f.workers, Stalled: f.stalled,
		}, Total: f.total, Oldest: s.oldestQueued(f)}
		if s.stats != nil {
			if st := s.fstats(f); st.label == f.name {
				fs.Counted = true
				for _, n := range st.finished {
					fs.Finished += n
				}
			}
		}
		funcs = append(funcs, fs)
	}
	return funcs, len(s.conns), s.clock.Now()
}
