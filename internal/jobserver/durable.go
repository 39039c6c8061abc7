package jobserver

import (
	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file holds the replies that wait for the store: with a store, a
// background submit is answered JOB_CREATED only once its job's record is
// durable. The reader handles the run of background submits it has
// buffered (a pipelining client's, many records for one sync), then waits
// for their records before it answers them, in order, and before it
// handles the connection's next request of another kind; many connections'
// records share one sync (the store's group commit). Server.mu is never
// held while the reader waits.

// maxAcks bounds the answers a connection's reader queues before it waits
// for them: enough submits for one sync to carry many, few enough that a
// pipelining client holds no more than this many jobs unanswered.
const maxAcks = 1024

// An ack is the queued answer to one submit of a connection.
type ack struct {
	j      *job
	commit store.Commit // the record the answer waits for; nil = none
	err    [2][]byte    // an ERROR to send instead, when err[0] != nil
}

// ack answers a submit of c for j: at once, unless the answer must wait
// for commit or for the answers queued before it.
func (s *Server) ack(c *conn, j *job, commit store.Commit) {
	if commit == nil && len(c.acks) == 0 {
		s.replyCreated(c, j)
		return
	}
	c.acks = append(c.acks, ack{j: j, commit: commit})
}

// refuse answers a submit of c with ERROR e, after the answers queued
// before it.
func (s *Server) refuse(c *conn, e [2][]byte) {
	if len(c.acks) == 0 {
		c.sendError(e)
		return
	}
	c.acks = append(c.acks, ack{err: e})
}

// queueError is the ERROR for a submit the store could not keep.
func queueError(err error) [2][]byte {
	return [2][]byte{errQueueFull[0], []byte("Job could not be stored: " + err.Error())}
}

// joinsAcks reports whether a request may be handled while c's answers
// wait: a background submit, whose own answer queues behind them.
func (s *Server) joinsAcks(p wire.Packet) bool {
	if p.Magic != wire.Req || !isSubmit(p.Type) {
		return false
	}
	_, bg := submitKind(p.Type)
	return bg
}

// awaitAcks waits until the records c's queued answers wait for are
// durable (or failed), then sends the answers in order: JOB_CREATED for a
// durable job, which becomes runnable; ERROR QUEUE_ERROR for one whose
// record failed, which is dropped. It returns false when the server closed
// meanwhile. The caller must not hold Server.mu.
func (s *Server) awaitAcks(c *conn) bool {
	for _, a := range c.acks {
		if a.commit == nil {
			continue
		}
		select {
		case <-a.commit.Done():
		case <-s.closedCh:
			return false
		}
	}
	s.mu.Lock()
	for i, a := range c.acks {
		switch {
		case a.err[0] != nil:
			c.sendError(a.err)
		case a.commit == nil:
			s.replyCreated(c, a.j)
		case a.commit.Err() == nil:
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
		c.acks[i] = ack{}
	}
	c.acks = c.acks[:0]
	if cap(c.acks) > maxAcks {
		c.acks = nil
	}
	s.mu.Unlock()
	s.changed()
	c.tryFlush()
	return true
}
