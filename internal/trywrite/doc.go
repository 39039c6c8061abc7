// Package trywrite writes to a socket without blocking, so that a goroutine
// that must never wait on a peer (a connection's read loop) can still send
// what the socket has room for at once, and leave the rest to a writer
// goroutine.
package trywrite

import "syscall"

// Conn returns nc's raw connection when nc is a socket, else nil.
func Conn(nc any) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
