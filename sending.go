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
// reader to meet the end of what the server sent (see writeFailed).
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

// send sends a request that expects no reply. It writes it from the
// caller's goroutine unless another write is under way: never call it from
// the read loop (use post).
func (c *Conn) send(t wire.Type, args ...[]byte) error {
	if _, err := c.out.packet(t, nil, args...); err != nil {
		return c.connErr(err)
	}
	return c.flush()
}

// loopPost queues a packet from the read loop, which sends it before it
// next waits to read (loopFlush), with whatever else it queued meanwhile.
func (c *Conn) loopPost(t wire.Type, args ...[]byte) (uint64, error) {
	return c.out.packet(t, nil, args...)
}

// loopFlush sends what the read loop queued: what the socket takes at once
// from the read loop itself, the rest by the writer goroutine. The read loop
// never waits on the socket (see outQueue).
func (c *Conn) loopFlush() {
	if !c.out.tryDrain() {
		c.out.signal()
	}
}

// post queues a packet for the writer goroutine, from a goroutine that must
// not write (it may hold locks the read loop needs).
func (c *Conn) post(t wire.Type, args ...[]byte) (uint64, error) {
	seq, err := c.out.packet(t, nil, args...)
	if err == nil {
		c.out.signal()
	}
	return seq, err
}

// flush writes what is queued from the caller's goroutine (see outQueue). A
// write error ends the connection (see writeFailed).
func (c *Conn) flush() error {
	if err := c.out.drain(); err != nil {
		err = fmt.Errorf("gearman: write to %s: %w: %w", c.addr, ErrConnLost, err)
		c.writeFailed(err)
		return c.connErr(err)
	}
	return nil
}

// sendData sends a packet whose last argument is data from the caller, and
// for data sent by reference (wire.LargeData bytes or more) waits until it is
// written, so the caller may reuse it.
func (c *Conn) sendData(t wire.Type, handle string, data []byte) error {
	return c.writeData(t, handle, data, true)
}

// writeData is sendData, but without flush it only queues the packet (for a
// caller that flushes next), unless its data goes by reference. For a packet
// type without data (WORK_FAIL) data is ignored.
func (c *Conn) writeData(t wire.Type, handle string, data []byte, flush bool) error {
	c.out.waitRoom()
	var done chan error
	if len(data) >= wire.LargeData {
		done = make(chan error, 1)
		flush = true
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
	if !flush {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	if done != nil {
		return c.connErr(<-done)
	}
	return nil
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
