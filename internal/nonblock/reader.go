package nonblock

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// ErrWouldBlock is the error of a TryRead that found nothing to read.
var ErrWouldBlock = errors.New("nonblock: nothing to read now")

// A Reader reads from one socket. It allocates nothing per read. It is not
// safe for concurrent use: its owner serializes reads.
type Reader struct {
	nc   net.Conn
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // r.read, bound once
	b    []byte
	n    int
	err  error
	wait bool // Read: wait for data instead of reporting ErrWouldBlock
}

// NewReader returns a Reader for nc, or nil when nc is not a socket.
func NewReader(nc net.Conn) *Reader {
	rc, ok := rawConn(nc)
	if !ok {
		return nil
	}
	r := &Reader{nc: nc, rc: rc}
	r.fn = r.read
	return r
}

// TryRead reads what the socket holds into b, with one system call: it
// returns ErrWouldBlock when nothing is there, io.EOF at the end of the
// stream, or the socket's error (a *net.OpError, as nc's Read gives).
func (r *Reader) TryRead(b []byte) (int, error) {
	return r.do(b, false)
}

// Read reads into b what the socket holds, waiting until something is
// there, as the net.Conn's Read does: it returns io.EOF at the end of the
// stream, or a *net.OpError: the socket's error, or one wrapping
// os.ErrDeadlineExceeded when the connection's read deadline passes, or
// net.ErrClosed when it is closed.
func (r *Reader) Read(b []byte) (int, error) {
	return r.do(b, true)
}

func (r *Reader) do(b []byte, wait bool) (int, error) {
	r.b, r.n, r.err, r.wait = b, 0, nil, wait
	err := r.rc.Read(r.fn)
	r.b = nil
	switch {
	case err != nil:
		return 0, opError("read", r.nc, err)
	case r.err != nil && r.err != ErrWouldBlock && r.err != io.EOF:
		return 0, opError("read", r.nc, r.err)
	}
	return r.n, r.err
}
