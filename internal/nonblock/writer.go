package nonblock

import (
	"io"
	"net"
	"syscall"
)

// A Writer writes to one socket. It allocates nothing per write. It is not
// safe for concurrent use: its owner serializes writes.
type Writer struct {
	nc   net.Conn
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // w.write, bound once
	bufs [][]byte
	one  [1][]byte // bufs for a single buffer
	iov  iovecs    // writev's, reused
	n    int
	err  error
	wait bool // WriteBuffers: wait for room instead of returning
}

// NewWriter returns a Writer for nc, or nil when nc is not a socket.
func NewWriter(nc net.Conn) *Writer {
	rc, ok := rawConn(nc)
	if !ok {
		return nil
	}
	w := &Writer{nc: nc, rc: rc}
	w.fn = w.write
	return w
}

// TryWrite writes as much of b as the socket takes without waiting and
// returns how much that was; on any error it reports 0 and leaves the
// failure for a writer that waits to meet.
func (w *Writer) TryWrite(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	w.one[0] = b
	n, _ := w.once(w.one[:], false)
	w.one[0] = nil
	return n
}

// WriteBuffers writes all of bufs, in order, with as few system calls as
// the socket allows, waiting for room as the net.Conn's Write does; it
// moves the slices in bufs past what it wrote. It returns how much it
// wrote and, if it could not write it all, a *net.OpError: the socket's
// error, or one wrapping os.ErrDeadlineExceeded when the connection's
// write deadline passed, or net.ErrClosed when it is closed.
func (w *Writer) WriteBuffers(bufs [][]byte) (int64, error) {
	var total int64
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return total, nil
		}
		n, err := w.once(bufs, true)
		total += int64(n)
		switch {
		case err != nil:
			return total, err
		case n == 0:
			return total, opError("write", w.nc, io.ErrShortWrite) // a socket never takes nothing
		}
		for n > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	}
}

// once makes one write or writev system call of bufs (the first not
// empty), or with wait, as many as it takes the socket to take some.
func (w *Writer) once(bufs [][]byte, wait bool) (int, error) {
	w.bufs, w.n, w.err, w.wait = bufs, 0, nil, wait
	err := w.rc.Write(w.fn)
	w.bufs = nil
	switch {
	case err != nil:
		err = opError("write", w.nc, err)
	case w.err != nil:
		err = opError("write", w.nc, w.err)
	}
	return w.n, err
}
