//go:build !unix

package nonblock

// Where non-blocking system calls are not wired up, rawConn gives no socket,
// so neither callback runs.
const supported = false

func (w *Writer) write(fd uintptr) bool { return true }

func (r *Reader) read(fd uintptr) bool { return true }

type iovecs = struct{}
