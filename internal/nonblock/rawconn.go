package nonblock

import (
	"net"
	"syscall"
)

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

// Plain reports whether nc is a socket as package net makes it (a
// *net.TCPConn or *net.UnixConn), which its owner may read and write through
// a Reader and a Writer in place of nc's own methods. A wrapper is not, even
// one that embeds such a socket: its Read or Write may do more than the
// socket's.
func Plain(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
