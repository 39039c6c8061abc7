package gearman

import (
	"errors"
	"fmt"
	"io"

	"github.com/seed749d6d6d/gearman/wire"
)

// readLoop reads the connection and routes every packet until it fails; it
// then returns ok false, or a job whose handler is still to run.
//
// A job whose payload came whole is run by the goroutine that read it: it
// returns the job, after handing the reading on to another goroutine (start)
// unless it may leave the connection unread while the handler runs (park).
// So the handler starts at once, with the payload fresh in cache, and any
// hand-off to another goroutine is off the job's path.
func (c *Conn) readLoop() (run handlerRun, ok bool) {
	for {
		if c.rd.r.Buffered() == 0 {
			// About to read from the socket: first send the replies to
			// the packets read so far, in one write.
			c.flushNoWait()
			if c.rd.taskEnded {
				// The next Do's or Submit's caller reads: leave it
				// the reading while nothing is expected ([Conn.readFor]).
				c.rd.taskEnded = false
				if c.parkIdle() {
					return handlerRun{}, true
				}
			}
		}
		p, err := c.rd.r.NextHeader()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.readFailed(err)
			run, c.rd.direct = c.rd.direct, handlerRun{}
			return run, run.t != nil
		}
		if c.rd.direct.t != nil {
			run, c.rd.direct = c.rd.direct, handlerRun{}
			if !c.settleBuffered() {
				return run, true
			}
			c.flushNoWait()
			if c.rd.r.Buffered() == 0 && c.park() {
				run.parked = true // nobody reads until the handler returns
			} else {
				c.start(handlerRun{}) // the read loop goes on elsewhere
			}
			return run, true
		}
	}
}

// settleBuffered handles, before a job's handler runs on the read loop's
// goroutine, the packets already buffered whole that need no waiting (see
// handledAtOnce): above all the NO_JOB answers to the connection's other
// grabs, which a server sends with the job that its first grab got. Once
// they are handled the connection may expect nothing more, and the handler
// may run with the reading parked instead of waking another goroutine to
// read. It reports whether the connection is still up. Read loop only.
func (c *Conn) settleBuffered() bool {
	for c.rd.r.Buffered() > 0 && c.handledAtOnce() {
		p, err := c.rd.r.NextHeader()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.readFailed(err)
			return false
		}
	}
	return true
}

// readFailed ends the connection on a read or decoding error met by the
// goroutine that reads, which then reads no more.
func (c *Conn) readFailed(err error) {
	c.reportUnexpected(err)
	var pe *wire.ProtocolError
	switch {
	case errors.As(err, &pe):
		err = fmt.Errorf("gearman: from %s: %w: %w", c.addr, ErrConnLost, err)
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("gearman: %s closed the connection: %w", c.addr, ErrConnLost)
	default:
		err = fmt.Errorf("gearman: read from %s: %w: %w", c.addr, ErrConnLost, err)
	}
	c.shutdown(err)
	c.loops.Done()
}

// dispatch handles one packet. Its arguments alias the reader's buffer.
func (c *Conn) dispatch(p wire.Packet) error {
	if c.opts.Trace != nil && c.opts.Trace.Received != nil {
		c.traceReceived(p)
	}
	if !p.Type.Valid() && p.Magic != wire.Text {
		c.unknownPacket(p) // and skip it
		return nil
	}
	if p.Magic != wire.Res {
		return c.unexpected(p)
	}
	switch p.Type {
	case wire.JobCreated:
		return c.onCreated(p)
	case wire.WorkData, wire.WorkComplete:
		return c.onData(p)
	case wire.WorkStatus, wire.WorkFail, wire.WorkWarning, wire.WorkException:
		return c.onUpdate(p)
	case wire.JobAssign, wire.JobAssignUniq, wire.JobAssignAll, wire.JobAssignStream:
		return c.onAssign(p)
	case wire.PayloadWindow, wire.ResultWindow, wire.StreamData, wire.StreamEnd, wire.StreamAbort:
		return c.onStreamPacket(p)
	case wire.NoJob:
		return c.onNoJob()
	case wire.Noop:
		c.onNoop()
		return nil
	case wire.EchoRes, wire.StatusRes, wire.StatusResUnique, wire.OptionRes:
		return c.onReply(p)
	case wire.Error:
		return c.onError(p)
	}
	return c.unexpected(p)
}

func (c *Conn) unexpected(p wire.Packet) error {
	err := unexpectedf(p.Type, "gearman: %s sent an unexpected %v %v", c.addr, p.Magic, p.Type)
	err.(*unexpectedError).magic = p.Magic
	return err
}

// readData reads a pending data argument whole, up to MaxPayload bytes (the
// rest is dropped).
func (c *Conn) readData() ([]byte, error) {
	n := min(c.rd.r.DataLen(), c.opts.MaxPayload)
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rd.r.Data(), b); err != nil {
		return nil, err
	}
	return b, nil
}

// handlerRun is work for one of a connection's goroutines: a job's handler,
// or with t nil the read loop.
type handlerRun struct {
	h      Handler
	t      *Task
	parked bool // the read loop waits for this handler ([Conn.park])
}

// start gives run to a goroutine of the connection that waits for work (one
// that ran an earlier job: its stack has already grown), or to a new one.
// Only the read loop calls it, from its goroutine or parked (unpark), so
// Close, which waits on c.handlers once the read loop has ended, never races
// with the Add here.
func (c *Conn) start(run handlerRun) {
	select {
	case c.rd.spare <- run:
	default:
		c.rd.goroutines.Add(1)
		go c.serve(run)
	}
}

// serve is the life of a connection's goroutine: it runs the read loop or a
// handler, then waits for more while fewer than MaxJobs goroutines wait. It
// returns when the connection ends.
func (c *Conn) serve(run handlerRun) {
	defer c.rd.goroutines.Done()
	for {
		if run.t == nil {
			var ok bool
			if run, ok = c.readLoop(); !ok {
				return
			}
		}
		if run.t != nil && c.runHandler(run) {
			run = handlerRun{} // back to reading
			continue
		}
		if c.rd.spares.Add(1) > int32(c.opts.MaxJobs) {
			c.rd.spares.Add(-1)
			return
		}
		select {
		case run = <-c.rd.spare:
			c.rd.spares.Add(-1)
		case <-c.done:
			c.rd.spares.Add(-1)
			return
		}
	}
}
