package jobserver

// The unique index: every job that coalesces (job.key) is found by its key
// in one lookup, under its function for a submit and under any function
// for GET_STATUS_UNIQUE, however many functions and jobs there are.
//
// Server.uniques maps a key to the oldest job that holds it, the head of a
// circular, doubly linked chain (job.uprev, job.unext) of every job that
// holds it, in order of id: a job is indexed while its links are set. Keys
// are almost always held by one job, which then costs one map entry and
// its two links. A key that jobs of several functions hold at once has
// each of them in Server.sharedUniques too, by function and key, so that a
// submit never walks a chain (a peer could make one as long as it has
// functions).

// uniqueRef names a job in Server.sharedUniques: its function and key.
type uniqueRef struct {
	fn  *function
	key string
}

// uniqueJob returns f's job with coalescing key k, or nil.
func (s *Server) uniqueJob(f *function, k string) *job { return s.uniqueIn(s.uniques[k], f, k) }

// uniqueIn returns f's job with coalescing key k, or nil, given the head
// of k's chain (s.uniques[k]).
func (s *Server) uniqueIn(head *job, f *function, k string) *job {
	switch {
	case head == nil:
		return nil
	case head.fn == f:
		return head
	case head.unext == head: // alone: no other function holds k
		return nil
	}
	return s.sharedUniques[uniqueRef{f, k}]
}

// oldestUnique returns the oldest job with coalescing key k under any
// function, or nil.
func (s *Server) oldestUnique(k string) *job { return s.uniques[k] }

// indexUnique indexes j under its key k, in place of the job of its
// function that held k, if any.
func (s *Server) indexUnique(j *job, k string) {
	head := s.uniques[k]
	if old := s.uniqueIn(head, j.fn, k); old != nil {
		s.unindexUnique(old, k)
		head = s.uniques[k]
	}
	s.link(head, j, k)
}

// indexUniqueFirst indexes j under its key k unless a job of its function
// holds k already (a replayed job: the oldest keeps the key).
func (s *Server) indexUniqueFirst(j *job, k string) {
	head := s.uniques[k]
	if s.uniqueIn(head, j.fn, k) == nil {
		s.link(head, j, k)
	}
}

// link adds j to the chain of key k, whose head is head (nil when no job
// holds k).
func (s *Server) link(head, j *job, k string) {
	if head == nil {
		s.uniques[k] = j
		j.uprev, j.unext = j, j
		return
	}
	if head.unext == head {
		s.sharedUniques[uniqueRef{head.fn, k}] = head // k is shared from now on
	}
	s.sharedUniques[uniqueRef{j.fn, k}] = j
	// A new job has the highest id: it goes last. A replayed one may not.
	at := head.uprev
	for at.id > j.id && at != head {
		at = at.uprev
	}
	if at.id > j.id { // before the head: the new oldest
		at = head.uprev
		s.uniques[k] = j
	}
	j.uprev, j.unext = at, at.unext
	at.unext.uprev = j
	at.unext = j
}

// unindexUnique removes j, indexed under k, from the index.
func (s *Server) unindexUnique(j *job, k string) {
	if j.unext == nil {
		return // not indexed
	}
	next := j.unext
	if next == j {
		delete(s.uniques, k)
	} else {
		j.uprev.unext, next.uprev = next, j.uprev
		if s.uniques[k] == j {
			s.uniques[k] = next
		}
		delete(s.sharedUniques, uniqueRef{j.fn, k})
		if next.unext == next { // k is held by one job again
			delete(s.sharedUniques, uniqueRef{next.fn, k})
		}
	}
	j.uprev, j.unext = nil, nil
}
