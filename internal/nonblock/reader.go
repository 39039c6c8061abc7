package nonblock

import (
	"errors"
	"syscall"
)

// ErrWouldBlock is the error of a Read that found nothing to read.
var ErrWouldBlock = errors.New("nonblock: nothing to read now")

// A Reader reads from one socket without blocking. It allocates nothing per
// read. It is not safe for concurrent use: its owner serializes reads.
type Reader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // r.read, bound once
	b   []byte
	n   int
	err error
}

// NewReader returns a Reader for nc, or nil when nc is not a socket.
func NewReader(nc any) *Reader {
	rc, ok := rawConn(nc)
	if !ok {
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
	err := r.rc.Read(r.fn)
	r.b = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}
