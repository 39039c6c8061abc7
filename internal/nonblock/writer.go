package nonblock

import (
	"os"
	"syscall"
)

// A Writer writes to one socket. It allocates nothing per write. It is not
// safe for concurrent use: its owner serializes writes.
type Writer struct {
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
func NewWriter(nc any) *Writer {
	rc, ok := rawConn(nc)
	if !ok {
		return nil
	}
	w := &Writer{rc: rc}
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
// the socket allows, waiting for room as the net.Conn's Write does. It
// returns how much it wrote and, if it could not write it all, an error
// (*os.SyscallError) of the socket, or one wrapping os.ErrDeadlineExceeded
// when the connection's write deadline passed.
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
		if err != nil {
			return total, err
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
	if err == nil && w.err != nil {
		err = os.NewSyscallError("write", w.err)
	}
	return w.n, err
}
