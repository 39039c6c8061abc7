//go:build unix

package nonblock

import (
	"errors"
	"io"
	"syscall"
)

const supported = true

// write is the raw connection's write callback: one write system call. It
// reports true (done) unless the socket is full and w waits for room.
func (w *Writer) write(fd uintptr) bool {
	for {
		var k int
		var err error
		if len(w.bufs) > 1 {
			k, err = writev(fd, w.bufs, &w.iov)
		} else {
			k, err = write(fd, w.bufs[0])
		}
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return !w.wait
		case err != nil:
			w.err = err
		default:
			w.n = k
		}
		return true
	}
}

// read is the raw connection's read callback: one read system call. It
// reports true (done) unless the socket is empty and r waits for data.
func (r *Reader) read(fd uintptr) bool {
	for {
		n, err := read(fd, r.b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if r.wait {
				return false
			}
			r.err = ErrWouldBlock
		case err != nil:
			r.err = err
		case n == 0 && len(r.b) > 0:
			r.err = io.EOF
		default:
			r.n = n
		}
		return true
	}
}

// iovecs is a Writer's reused array of writev's buffer descriptors.
type iovecs = []syscall.Iovec
