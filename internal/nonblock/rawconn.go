package nonblock

import (
	"net"
	"os"
	"syscall"
)

// rawConn returns nc's raw connection, or false when nc is not a socket, is
// not in non-blocking mode (see isNonblocking), or the platform has no
// non-blocking system calls wired up.
func rawConn(nc net.Conn) (syscall.RawConn, bool) {
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
	nb := false
	if err := rc.Control(func(fd uintptr) { nb = isNonblocking(fd) }); err != nil || !nb {
		return nil, false
	}
	return rc, true
}

// Plain reports whether nc is a stream socket as package net makes it (a
// *net.TCPConn, or a *net.UnixConn of network "unix"), which its owner may
// read and write through a Reader and a Writer in place of nc's own
// methods. A wrapper is not, even one that embeds such a socket: its Read
// or Write may do more than the socket's.
func Plain(nc net.Conn) bool {
	switch nc := nc.(type) {
	case *net.TCPConn:
		return true
	case *net.UnixConn:
		a := nc.LocalAddr()
		return a != nil && a.Network() == "unix"
	}
	return false
}

// opError gives err, met reading or writing nc, the form package net gives
// the errors of a connection's Read and Write.
func opError(op string, nc net.Conn, err error) error {
	if oe, ok := err.(*net.OpError); ok { // the poller's: a deadline, a close
		e := *oe
		e.Op = op
		return &e
	}
	if _, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, err)
	}
	oe := &net.OpError{Op: op, Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: err}
	if oe.Source != nil {
		oe.Net = oe.Source.Network()
	}
	return oe
}
