//go:build !linux

package nonblock

// isNonblocking reports true: outside Linux the socket calls go through
// package syscall (sys_unix.go), which tells the runtime that they may
// block, so a socket in blocking mode costs a thread but stalls nothing.
func isNonblocking(fd uintptr) bool { return true }
