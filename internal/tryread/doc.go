// Package tryread reads from a socket without blocking, so that a goroutine
// that takes over a connection nobody was reading can first handle what
// arrived meanwhile (the end of the connection, above all) without waiting
// for more.
package tryread

import (
	"errors"
	"syscall"
)

// ErrWouldBlock is the error of a Read that found nothing to read.
var ErrWouldBlock = errors.New("tryread: nothing to read now")

// A Reader reads from one socket without blocking. It allocates nothing per
// read. It is not safe for concurrent use: its owner serializes reads.
type Reader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // r.read, bound once
	b   []byte
	n   int
	err error
}

// New returns a Reader for nc, or nil when nc is not a socket (or the
// platform has no non-blocking read).
func New(nc any) *Reader {
	if !supported {
		return nil
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &Reader{rc: rc}
	r.fn = r.read
	return r
}

// Read reads what the socket holds into b, with one system call: it
// returns ErrWouldBlock when nothing is there, io.EOF at the end of the
// stream, or the socket's error.
func (r *Reader) Read(b []byte) (int, error) {
	r.b, r.n, r.err = b, 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		r.b = nil
		return 0, err
	}
	r.b = nil
	return r.n, r.err
}
