//go:build unix

package tryread

import (
	"errors"
	"io"
	"syscall"
)

const supported = true

// read is the raw connection's callback: one read system call, and never a
// wait for the socket to become readable.
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
