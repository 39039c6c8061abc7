package gearman

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// The reading of a connection passes between goroutines: the read loop's
// (see serve), a handler's while it runs with the reading parked (see park),
// and Do's caller. A connection that only serves Do calls, one at a time,
// needs no other goroutine at all: when the read loop has delivered a Do's
// result and nothing more is expected, it parks the reading (parkIdle); the
// next Do, finding it parked as it submits (enqueueLocked), takes it and
// reads its own result (readFor). Its wait then costs no hand-off between
// goroutines: the network wakes the goroutine that waits. Any other request
// made while the reading is parked starts a reader as before (unpark).

// readFor reads the connection on the goroutine of Do, which took the
// reading at submit, until t has ended; it then leaves the reading parked
// if nothing more is expected, or hands it to a reader goroutine. It reads
// only whole packets that fit the read buffer and that it can handle without
// waiting (see handledAtOnce): any other packet, or the end of ctx (which
// interrupts a read with a deadline in the past), hands the reading on at a
// packet's boundary, so the stream stays intact for the next reader.
func (c *Conn) readFor(ctx context.Context, t *Task) {
	c.mu.Lock()
	c.callerRead = t
	c.mu.Unlock()
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.callerRead == t {
				c.interrupted = true
				c.nc.SetReadDeadline(aLongTimeAgo)
			}
		})
	}
	handOn := c.readUntilDone(t)
	if stop != nil {
		stop()
	}
	if handOn {
		c.releaseReading()
	}
}

// aLongTimeAgo is a read deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// readUntilDone is readFor's loop. It reports whether the caller still
// holds the reading, to hand on; false after a read error, which ends the
// connection.
func (c *Conn) readUntilDone(t *Task) bool {
	for {
		select {
		case <-t.done:
			return true
		default:
		}
		if c.r.Buffered() == 0 {
			c.loopFlush()
		}
		whole, err := c.r.Buffer()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.wasInterrupted() {
				return true
			}
			c.readFailed(err)
			return false
		}
		if !whole || !c.handledAtOnce() {
			return true
		}
		p, err := c.r.NextHeader()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.readFailed(err)
			c.mu.Lock()
			c.callerRead = nil
			c.mu.Unlock()
			if run := c.direct; run.t != nil {
				c.direct = handlerRun{}
				c.start(run)
			}
			return false
		}
		c.doEnded = false
		if run := c.direct; run.t != nil {
			c.direct = handlerRun{}
			c.start(run)
		}
	}
}

// handledAtOnce reports whether the next packet, buffered whole, is handled
// without waiting: not when it brings data to a task whose buffer is full
// (its reader holds back the connection's reading, and so would hold the
// caller, whose context could then not free it), nor a job or stream packet
// for the worker side or a streaming task, which a reader goroutine
// handles.
func (c *Conn) handledAtOnce() bool {
	p, n, ok := c.r.Peek()
	if !ok || p.Magic != wire.Res {
		return false
	}
	switch p.Type {
	case wire.WorkData, wire.WorkComplete:
		var buf [4]*Task
		tasks := buf[:0]
		c.mu.Lock()
		if rt := c.routes[string(p.Args[0])]; rt != nil {
			tasks = append(tasks, rt.tasks...)
		}
		c.mu.Unlock()
		for _, t := range tasks {
			if !t.in.takes(n) {
				return false
			}
		}
		return true
	case wire.JobAssign, wire.JobAssignUniq, wire.JobAssignAll, wire.JobAssignStream,
		wire.PayloadWindow, wire.ResultWindow, wire.StreamData, wire.StreamEnd, wire.StreamAbort:
		return false
	}
	return true
}

// wasInterrupted reports whether the reading caller's context ended.
func (c *Conn) wasInterrupted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interrupted
}

// releaseReading ends a caller's reading: it parks the reading when the
// connection expects nothing, else hands it to a reader goroutine.
func (c *Conn) releaseReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.callerRead = nil
	if c.interrupted {
		c.interrupted = false
		c.nc.SetReadDeadline(time.Time{})
	}
	if c.r.Buffered() == 0 && c.expectsNothing() && len(c.funcs) == 0 {
		c.parkLocked()
		return
	}
	c.start(handlerRun{})
}
