package gearman

import (
	"fmt"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

func (c *Conn) writeLoop() {
	defer c.loops.Done()
	err := c.out.writeLoop(c.stop)
	close(c.writerDone)
	if err != nil {
		c.writeFailed(fmt.Errorf("gearman: write to %s: %w: %w", c.addr, ErrConnLost, err))
	}
}

// writeLinger bounds how long a connection whose write failed waits for its
// reader to meet the end of what the server sent ([Conn.writeFailed]).
const writeLinger = 2 * time.Second

// writeFailed ends the connection after a write error, once its reader has
// read what the server sent before it closed: a server that refuses a
// packet (ERROR ARGUMENT_TOO_LARGE for one larger than it takes) answers
// and closes the connection while the packet is still being written, and
// the write then fails with ECONNRESET or EPIPE though the answer has
// arrived. Ending the connection at once would hide that answer from the
// request it answers, whose caller would see a lost connection instead, or
// not, depending on which of the writer and the reader came first.
//
// So nothing more is written (the queue fails with err), a reader is
// started if nobody reads, and the connection ends when the reader meets
// the end of the stream (the server's close, read right after its last
// packets), or writeLinger after the write error, whichever comes first.
func (c *Conn) writeFailed(err error) {
	c.out.fail(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.writeErr != nil {
		return
	}
	c.writeErr = err
	c.linger = time.AfterFunc(writeLinger, func() { c.shutdown(err) })
	c.unpark()
}

// A connection's packets are queued in its outQueue and written by one of
// three: the goroutine that queued them, which then waits on the socket
// (send, sendData, flush); the read loop, which never waits on it
// (flushNoWait); or the writer goroutine (sendViaWriter). A queue method
// only queues, for the caller to write next.

// send queues a packet and writes what is queued from the caller's
// goroutine, waiting on the socket: never call it from the read loop
// (queue, then flushNoWait).
func (c *Conn) send(t wire.Type, args ...[]byte) error {
	if _, err := c.out.packet(t, nil, args...); err != nil {
		return c.connErr(err)
	}
	return c.flush()
}

// sendData is queueData, then flush.
func (c *Conn) sendData(t wire.Type, handle string, data []byte) error {
	if err := c.queueData(t, handle, data); err != nil {
		return err
	}
	return c.flush()
}

// flush writes what is queued from the caller's goroutine, waiting on the
// socket (see [outQueue]). A write error ends the connection (see
// [Conn.writeFailed]).
func (c *Conn) flush() error {
	if err := c.out.drain(); err != nil {
		err = fmt.Errorf("gearman: write to %s: %w: %w", c.addr, ErrConnLost, err)
		c.writeFailed(err)
		return c.connErr(err)
	}
	return nil
}

// queue queues a packet for the caller to write next: the read loop with
// flushNoWait, before it next waits to read.
func (c *Conn) queue(t wire.Type, args ...[]byte) (uint64, error) {
	return c.out.packet(t, nil, args...)
}

// queueData queues a packet whose last argument is data from the caller,
// for the caller to write next; data that goes by reference
// ([wire.LargeData] bytes or more) is written before queueData returns,
// so that the caller may reuse it. For a packet type without data
// (WORK_FAIL), data is ignored. Like send, it may wait on the socket.
func (c *Conn) queueData(t wire.Type, handle string, data []byte) error {
	c.out.waitRoom()
	var done chan error
	if len(data) >= wire.LargeData {
		done = make(chan error, 1)
	}
	var err error
	if t.HasData() {
		_, err = c.out.packet(t, done, []byte(handle), data)
	} else {
		_, err = c.out.packet(t, nil, []byte(handle)) // WORK_FAIL
	}
	if err != nil {
		return c.connErr(err)
	}
	if done == nil {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.connErr(<-done)
}

// flushNoWait writes, from the read loop, what the socket takes at once,
// and leaves the rest to the writer goroutine: the read loop never waits on
// the socket (see [outQueue]).
func (c *Conn) flushNoWait() {
	if !c.out.tryDrain() {
		c.out.signal()
	}
}

// sendViaWriter queues a packet for the writer goroutine to write, from a
// goroutine that must not write (it may hold locks the read loop needs).
func (c *Conn) sendViaWriter(t wire.Type, args ...[]byte) (uint64, error) {
	seq, err := c.out.packet(t, nil, args...)
	if err == nil {
		c.out.signal()
	}
	return seq, err
}

// connErr returns the connection's own error for a failed queue.
func (c *Conn) connErr(err error) error {
	if err == nil {
		return nil
	}
	if e := c.Err(); e != nil {
		return e
	}
	return err
}
