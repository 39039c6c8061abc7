//go:build unix

package nonblock

import (
	"errors"
	"io"
	"syscall"
)

const supported = true

// write is the raw connection's write callback: one write system call, and
// never a wait for the socket to become writable.
func (w *Writer) write(fd uintptr) bool {
	k, err := syscall.Write(int(fd), w.b)
	if err == nil && k > 0 {
		w.n = k
	}
	return true
}

// read is the raw connection's read callback: one read system call (again
// after EINTR), and never a wait for the socket to become readable.
func (r *Reader) read(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), r.b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
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
