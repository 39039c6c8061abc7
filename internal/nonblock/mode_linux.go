//go:build linux

package nonblock

import "syscall"

// isNonblocking reports whether the file descriptor is in non-blocking
// mode (O_NONBLOCK), which the raw system calls need.
func isNonblocking(fd uintptr) bool {
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	return errno == 0 && flags&syscall.O_NONBLOCK != 0
}
