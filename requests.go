package gearman

import (
	"context"
	"fmt"
	"strings"

	"github.com/seed749d6d6d/gearman/wire"
)

// request is a packet that awaits a reply; the server answers requests on a
// connection in the order it received them.
type request struct {
	t     wire.Type
	task  *Task      // a submit's task
	reply chan reply // echo, status and option requests; buffered
	sent  uint64     // the out queue's sequence number of the packet
}

type reply struct {
	args [][]byte // copied
	err  error
}

// call sends a request that expects a reply and waits for it.
func (c *Conn) call(ctx context.Context, t wire.Type, args ...[]byte) ([][]byte, error) {
	rq := &request{t: t, reply: make(chan reply, 1)}
	if err := c.enqueue(rq, args...); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	select {
	case rp := <-rq.reply:
		return rp.args, rp.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// enqueue queues a request and its packet in the same order.
func (c *Conn) enqueue(rq *request, args ...[]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enqueueLocked(rq, nil, args...)
}

// enqueueChunks queues a submit and its packet, whose data argument is
// chunks ([outQueue.packetChunks]), in the same order.
func (c *Conn) enqueueChunks(rq *request, lead [][]byte, chunks [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	seq, err := c.out.packetChunks(rq.t, lead, chunks)
	if err != nil {
		return err
	}
	rq.sent = seq
	c.pending = append(c.pending, rq)
	c.unpark()
	return nil
}

// enqueueLocked is enqueue with c.mu held; done, if not nil, learns when
// the packet has been written ([outQueue.packet]).
func (c *Conn) enqueueLocked(rq *request, done chan error, args ...[]byte) error {
	if c.err != nil {
		return c.err
	}
	seq, err := c.out.packet(rq.t, done, args...)
	if err != nil {
		return err
	}
	rq.sent = seq
	c.pending = append(c.pending, rq)
	c.unpark()
	return nil
}

// takeRequest removes and returns the oldest pending request that expects a
// reply of type t, or the oldest of all for an ERROR.
func (c *Conn) takeRequest(t wire.Type) *request {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, rq := range c.pending {
		if t == wire.Error || t.Answers(rq.t) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return rq
		}
	}
	return nil
}

// onReply answers a pending echo, status or option request.
func (c *Conn) onReply(p wire.Packet) error {
	rq := c.takeRequest(p.Type)
	if rq == nil {
		return unexpectedf(p.Type, "gearman: %s sent %v with no request waiting", c.addr, p.Type)
	}
	args := make([][]byte, len(p.Args), len(p.Args)+1)
	for i, a := range p.Args {
		args[i] = append([]byte(nil), a...)
	}
	if p.Type.HasData() {
		data, err := c.readData()
		if err != nil {
			return err
		}
		args = append(args, data)
	}
	if p.Type == wire.OptionRes {
		c.mu.Lock()
		switch strings.ToLower(string(args[0])) {
		case "exceptions":
			c.neg.exceptions = true
		case "streaming":
			c.neg.streaming = true
		case "stream-chunks":
			c.neg.chunks = true
		}
		c.mu.Unlock()
	}
	rq.reply <- reply{args: args}
	return nil
}

// onError gives an ERROR packet to the request it answers: the oldest one
// waiting. JOB_NOT_FOUND answers a worker's WORK_* packet for a job the
// server no longer gives it (timed out or cancelled): it is only logged.
// STREAM_ERROR answers no request: the server closes the connection after
// it (wire/STREAMING.md), and so does the connection, with it as the cause.
func (c *Conn) onError(p wire.Packet) error {
	se := &ServerError{Code: string(p.Args[0]), Message: string(p.Args[1])}
	switch se.Code {
	case "JOB_NOT_FOUND":
		c.opts.Logger.Warn("gearman: server does not know a job this worker reported on", "server", c.addr, "error", se.Message)
		return nil
	case "STREAM_ERROR":
		return se
	}
	rq := c.takeRequest(wire.Error)
	switch {
	case rq == nil:
		c.opts.Logger.Warn("gearman: server error", "server", c.addr, "code", se.Code, "error", se.Message)
	case rq.task != nil:
		rq.task.finish(&notSubmittedError{fmt.Errorf("gearman: submit %s to %s: %w", rq.task.fn, c.addr, se)})
	case rq.reply != nil:
		rq.reply <- reply{err: se}
	case rq.t.IsGrab():
		c.onGrabError(rq.t, se)
	}
	return nil
}
