package gearman

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
)

// pipe is the bounded buffer behind one direction of a task: the connection's
// read loop fills it with a payload (worker side) or a result (client side),
// and the task's reader drains it.
//
// Flow control: fill blocks while the buffer holds limit bytes, which holds
// back the connection's read loop and so every other task on that
// connection (head-of-line blocking, the price of a protocol without
// per-job windows). A reader that goes away calls discard, after which fill
// drops data instead of waiting, so an abandoned task never stalls its
// connection.
type pipe struct {
	mu      sync.Mutex
	readOK  sync.Cond // signalled when data arrives or the pipe ends
	writeOK sync.Cond // signalled when room appears or data is discarded
	buf     []byte    // unread bytes are buf[off:]
	off     int
	limit   int
	err     error // set once: io.EOF after a clean end, else the failure
	discard bool  // the reader is gone: drop what comes
	filling bool  // fill is reading into the buffer's tail, unlocked
	wantAll bool  // readAllCtx waits for the end: fill ignores limit and does not signal
	expect  int64 // bytes fill has yet to deliver, a size hint for readers
	// onRead, when set, learns of every n bytes the reader consumed or
	// fill dropped: the streaming extension grants credit by it. It is
	// called with mu held and must not block. Set before the pipe is used.
	onRead func(n int)
}

// takes reports whether fill would take n bytes now without waiting for the
// reader.
func (p *pipe) takes(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil || p.discard || p.wantAll || p.limit-(len(p.buf)-p.off) >= n
}

// init readies a zero pipe for use, in place: a task holds its pipe.
func (p *pipe) init(limit int) *pipe {
	p.limit = limit
	p.readOK.L = &p.mu
	p.writeOK.L = &p.mu
	return p
}

// Read reads buffered data, blocking until some arrives or the pipe ends.
func (p *pipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.off == len(p.buf) && p.err == nil {
		p.readOK.Wait()
	}
	if p.off == len(p.buf) {
		return 0, p.err
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	if p.off == len(p.buf) {
		p.drained()
	}
	p.writeOK.Signal()
	p.consumed(n)
	return n, nil
}

// drained empties the buffer once everything in it has been read; while fill
// reads into its tail, only the read offset moves. p.mu held.
func (p *pipe) drained() {
	if p.filling {
		p.off = len(p.buf)
		return
	}
	p.buf, p.off = p.buf[:0], 0
}

// readAllCtx reads until the pipe ends and returns what it read and the
// pipe's error (nil after a clean end), or ctx's error when ctx ends first.
// With watch unset, the caller promises that the end of ctx ends the pipe
// (the task's own context abandons it), and ctx is not watched here.
func (p *pipe) readAllCtx(ctx context.Context, watch bool) ([]byte, error) {
	p.mu.Lock()
	var stop func() bool
	defer func() {
		p.wantAll = false
		p.mu.Unlock()
		if stop != nil {
			stop()
		}
	}()
	// Unless each byte read must be reported (onRead grants the server
	// credit as the reader goes), the reader takes nothing until the end:
	// fill then reads the rest straight into one buffer of the right size,
	// which the reader takes whole, and wakes it only at the end.
	all := p.onRead == nil
	var out []byte
	for {
		if p.off < len(p.buf) && (!all || p.err != nil || ctx.Err() != nil) {
			p.consumed(len(p.buf) - p.off)
			switch {
			case out == nil && p.err != nil && p.off == 0 && !p.filling:
				// Fast path: the whole result is here; hand the buffer over.
				out, p.buf, p.off = p.buf, nil, 0
			case out == nil:
				out = make([]byte, 0, int64(len(p.buf)-p.off)+p.expect)
				fallthrough
			default:
				out = append(out, p.buf[p.off:]...)
				p.drained()
			}
			p.writeOK.Signal()
		}
		if p.err != nil {
			if p.err == io.EOF {
				return out, nil
			}
			return out, p.err
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if all && !p.wantAll {
			p.wantAll = true
			p.writeOK.Signal() // a fill waiting for room has all it needs
		}
		if watch && stop == nil {
			// Only a reader that has to wait pays for the watch. Should
			// ctx end right now, the watch's broadcast waits for Wait to
			// release the lock, so it is not missed.
			stop = broadcastOnDone(ctx, &p.readOK)
		}
		p.readOK.Wait()
	}
}

// write copies b into the buffer, blocking while it is full. It returns
// false when the pipe has ended or was discarded (the data is dropped).
func (p *pipe) write(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		if p.err != nil || p.discard {
			return false
		}
		room := p.limit - (len(p.buf) - p.off)
		if room <= 0 {
			p.writeOK.Wait()
			continue
		}
		n := min(room, len(b))
		if p.off > 0 && len(p.buf)+n > cap(p.buf) {
			p.buf = p.buf[:copy(p.buf, p.buf[p.off:])]
			p.off = 0
		}
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		p.readOK.Signal()
	}
	return true
}

// fill reads n bytes from r straight into the buffer as room appears: the
// connection's read loop delivers a data argument without an extra copy. It
// returns an error only when r fails; data for a discarded or ended pipe is
// read and dropped.
func (p *pipe) fill(r io.Reader, n int64) error {
	p.mu.Lock()
	for n > 0 {
		p.expect = n
		limit := p.limit
		if p.wantAll {
			limit = len(p.buf) - p.off + int(min(n, math.MaxInt32))
		}
		room := limit - (len(p.buf) - p.off)
		if p.err != nil || p.discard {
			p.expect = 0
			p.consumed(int(n))
			p.mu.Unlock()
			return readFull(io.Discard, r, n)
		}
		if room <= 0 {
			p.writeOK.Wait()
			continue
		}
		k := int(min(int64(room), n))
		if len(p.buf)+k > cap(p.buf) {
			if p.off > 0 {
				p.buf = p.buf[:copy(p.buf, p.buf[p.off:])]
				p.off = 0
			}
			if len(p.buf)+k > cap(p.buf) {
				size := len(p.buf) + int(min(int64(limit), max(n, int64(2*cap(p.buf)))))
				nb := make([]byte, len(p.buf), max(size, len(p.buf)+k))
				copy(nb, p.buf)
				p.buf = nb
			}
		}
		start := len(p.buf)
		tail := p.buf[start : start+k]
		p.filling = true
		p.mu.Unlock()
		m, err := r.Read(tail)
		p.mu.Lock()
		p.filling = false
		n -= int64(m)
		if m > 0 && p.err == nil && !p.discard {
			p.buf = p.buf[:start+m]
			if !p.wantAll {
				p.readOK.Signal()
			}
		}
		if p.off == len(p.buf) && p.off > 0 {
			p.drained()
		}
		if err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			p.expect = 0
			p.mu.Unlock()
			return err
		}
	}
	p.expect = 0
	p.mu.Unlock()
	return nil
}

// consumed reports n bytes gone to onRead. p.mu held.
func (p *pipe) consumed(n int) {
	if p.onRead != nil && n > 0 {
		p.onRead(n)
	}
}

// readFull copies exactly n bytes from r to w.
func readFull(w io.Writer, r io.Reader, n int64) error {
	k, err := io.CopyN(w, r, n)
	if err == io.EOF && k < n {
		return io.ErrUnexpectedEOF
	}
	return err
}

// close ends the pipe: readers get what is buffered, then err (io.EOF for a
// clean end). Only the first close counts.
func (p *pipe) close(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.readOK.Broadcast()
	p.writeOK.Broadcast()
}

// abort ends the pipe with err and drops buffered data: the reader sees err
// at once.
func (p *pipe) abort(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil || p.err == io.EOF {
		p.err = err
	}
	p.consumed(len(p.buf) - p.off)
	p.buf, p.off = nil, 0
	p.discard = true
	p.readOK.Broadcast()
	p.writeOK.Broadcast()
}

// setDiscard makes the pipe drop what it holds and what comes, without ending
// it: the reader has gone away.
func (p *pipe) setDiscard() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discard = true
	p.consumed(len(p.buf) - p.off)
	p.buf, p.off = nil, 0
	p.writeOK.Broadcast()
}

// broadcastOnDone wakes the waiters of c when ctx ends, so that a loop
// waiting on c can check ctx; the returned function stops it.
func broadcastOnDone(ctx context.Context, c *sync.Cond) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() {
		c.L.Lock()
		c.Broadcast()
		c.L.Unlock()
	})
}
