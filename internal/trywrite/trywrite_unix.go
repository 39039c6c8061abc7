//go:build unix

package trywrite

import "syscall"

// write is the raw connection's callback: one write system call, and never
// a wait for the socket to become writable.
func (w *Writer) write(fd uintptr) bool {
	k, err := syscall.Write(int(fd), w.b)
	if err == nil && k > 0 {
		w.n = k
	}
	return true
}
