// Package nonblock reads and writes a socket without blocking, through its
// raw file descriptor, one system call at a time. A goroutine that must never
// wait on a peer (a connection's read loop) writes what the socket has room
// for at once and leaves the rest to a writer goroutine; a goroutine that
// takes over a connection nobody was reading first handles what arrived
// meanwhile (the end of the connection, above all) without waiting for more.
package nonblock

import "syscall"

// rawConn returns nc's raw connection, or false when nc is not a socket (or
// the platform has no non-blocking system calls wired up).
func rawConn(nc any) (syscall.RawConn, bool) {
	if !supported {
		return nil, false
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	return rc, true
}
