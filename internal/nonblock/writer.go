package nonblock

import "syscall"

// A Writer writes to one socket without blocking. It allocates nothing per
// write. It is not safe for concurrent use: its owner serializes writes.
type Writer struct {
	rc syscall.RawConn
	fn func(fd uintptr) bool // w.write, bound once
	b  []byte
	n  int
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

// Write writes as much of b as the socket takes without waiting and returns
// how much that was; on any error it reports 0 and leaves the failure for a
// blocking writer to meet.
func (w *Writer) Write(b []byte) int {
	w.b, w.n = b, 0
	err := w.rc.Write(w.fn)
	w.b = nil
	if err != nil {
		return 0
	}
	return w.n
}
