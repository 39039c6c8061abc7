//go:build unix

package main

import (
	"errors"
	"net"
	"syscall"
)

// setBacklog sets the listen backlog of l to n by calling listen(2) again on
// its socket: Go listens with the system's largest backlog (somaxconn) and
// has no option for it, and on Linux and the BSDs listen on a listening
// socket changes its backlog. The system still caps n at its largest.
func setBacklog(l net.Listener, n int) error {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return errors.New("not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), n) }); err != nil {
		return err
	}
	return lerr
}
