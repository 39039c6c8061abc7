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
