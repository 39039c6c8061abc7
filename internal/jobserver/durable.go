package jobserver

import (
	"strconv"

	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file holds the answers that wait for the store: with a store, a
// background submit is answered JOB_CREATED only once its job's record is
// durable.
//
// The reader does not wait for the disk while background submits come:
// it queues their answers on the connection (acks) and reads on, so a
// pipelining client's submits fill the store's next write while the last
// one syncs, and many connections' records share one sync (the store's
// group commit). An answerer goroutine, one per connection while it has
// queued answers, sends them in order as their records become durable,
// and makes the durable jobs runnable. The answers to a connection's other
// requests must not overtake them: before the reader handles a request of
// another kind, it waits until the queue is empty. Server.mu is never held
// while anyone waits for the disk.

// maxAcks bounds the answers a connection queues: past it the reader waits
// until half are sent, so a client that pipelines without limit holds at
// most this many jobs unanswered.
const maxAcks = 1024

// An ack is the queued answer to one submit of a connection.
type ack struct {
	j      *job
	commit store.Commit // the record the answer waits for; nil = none
	err    *[2][]byte   // an ERROR to send instead, when not nil
}

// ack answers a submit of c for j: at once, unless the answer must wait
// for commit or for the answers queued before it. s.mu held.
func (s *Server) ack(c *conn, j *job, commit store.Commit) {
	if commit == nil && len(c.acks) == 0 {
		s.replyCreated(c, j)
		return
	}
	s.queueAck(c, ack{j: j, commit: commit})
}

// refuse answers a submit of c with ERROR e, after the answers queued
// before it. s.mu held.
func (s *Server) refuse(c *conn, e [2][]byte) {
	s.mRejected(e)
	if len(c.acks) == 0 {
		c.sendError(e)
		return
	}
	s.queueAck(c, ack{err: &e})
}

// queueAck queues a on c and starts c's answerer if none runs. s.mu held.
func (s *Server) queueAck(c *conn, a ack) {
	c.acks = append(c.acks, a)
	c.nAcks.Store(int32(len(c.acks)))
	if !c.answering && !s.closed {
		c.answering = true
		s.wg.Add(1)
		go s.answer(c)
	}
}

// queueError is the ERROR for a submit the store could not keep.
func queueError(err error) [2][]byte {
	return [2][]byte{errQueueFull[0], []byte("Job could not be stored: " + err.Error())}
}

// joinsAcks reports whether a request may be handled while c's answers
// wait: a background submit, whose own answer queues behind them.
func (s *Server) joinsAcks(p wire.Packet) bool {
	if p.Magic != wire.Req || !inlineSubmit(p.Type) {
		return false
	}
	_, bg := submitKind(p.Type)
	return bg
}

// answer is c's answerer: it sends c's queued answers in order as their
// records become durable (or fail) until none is left: JOB_CREATED for a
// durable job, which becomes runnable, or ERROR QUEUE_ERROR for one whose
// record failed, which is dropped. It ends early when the server closes.
func (s *Server) answer(c *conn) {
	defer s.wg.Done()
	s.mu.Lock()
	for len(c.acks) > 0 && !s.closed {
		if a := c.acks[0]; a.commit != nil && !isDone(a.commit) {
			s.mu.Unlock()
			select {
			case <-a.commit.Done():
			case <-s.closedCh:
			}
			s.mu.Lock()
			continue
		}
		n := 0
		for ; n < len(c.acks) && (c.acks[n].commit == nil || isDone(c.acks[n].commit)); n++ {
			s.sendAck(c, c.acks[n])
		}
		rest := copy(c.acks, c.acks[n:])
		clear(c.acks[rest:])
		c.acks = c.acks[:rest]
		c.nAcks.Store(int32(rest))
		s.mu.Unlock()
		s.changed()
		c.tryFlush()
		c.signalAcks()
		s.mu.Lock()
	}
	c.answering = false
	if s.closed {
		clear(c.acks)
		c.acks = nil
		c.nAcks.Store(0)
	}
	if cap(c.acks) > 2*maxAcks {
		// Not reached while the reader keeps to maxAcks: the queue's
		// buffer (32 bytes an answer) is kept for the next burst rather
		// than grown again each time.
		c.acks = nil
	}
	s.mu.Unlock()
	c.signalAcks()
}

// sendAck sends one queued answer whose record is done. s.mu held.
func (s *Server) sendAck(c *conn, a ack) {
	switch {
	case a.err != nil:
		c.sendError(*a.err)
	case a.commit == nil:
		s.replyCreated(c, a.j)
	case a.commit.Err() == nil:
		if co, ok := a.commit.(store.Coalesced); ok && co.Existing() != 0 {
			// The shared queue had a job with this unique id: the submit
			// joined it, and this one was not stored.
			s.abandon(a.j)
			s.hbuf = strconv.AppendUint(append(s.hbuf[:0], s.prefix...), co.Existing(), 10)
			c.send(wire.Res, wire.JobCreated, s.hbuf)
			return
		}
		s.activate(a.j)
		s.replyCreated(c, a.j)
	default:
		err := a.commit.Err()
		if a.j.state == statePending {
			s.logError("job not stored; submit refused", "handle", s.handleString(a.j), "err", err)
		}
		s.abandon(a.j)
		c.sendError(queueError(err))
	}
}

// isDone reports whether a commit is done.
func isDone(c store.Commit) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// signalAcks wakes c's reader if it waits for its queued answers.
func (c *conn) signalAcks() {
	select {
	case c.acksSent <- struct{}{}:
	default:
	}
}

// awaitAcks makes c's reader wait until at most n answers are queued. It
// returns false when the server closed meanwhile. The caller must not hold
// Server.mu.
func (s *Server) awaitAcks(c *conn, n int32) bool {
	for c.nAcks.Load() > n {
		select {
		case <-c.acksSent:
		case <-s.closedCh:
			return false
		}
	}
	return true
}

// A pendingCommit is the commit that pending jobs wait for. The jobs
// submitted while the store fills one batch share one (the store's
// commits are per batch), so a pending job costs the engine one pointer
// and two links in Server.pending, not an entry in a map.
type pendingCommit struct{ c store.Commit }

// addPending makes j, just stored, a pending job waiting for commit.
// s.mu held.
func (s *Server) addPending(j *job, commit store.Commit) {
	if s.lastPending == nil || s.lastPending.c != commit {
		s.lastPending = &pendingCommit{c: commit}
	}
	j.commit = s.lastPending
	s.pending.pushBack(j)
}

// removePending takes j out of the pending jobs. s.mu held.
func (s *Server) removePending(j *job) {
	s.pending.remove(j)
	j.commit = nil
}
