//go:build unix && (!linux || race || msan || asan)

package nonblock

import "syscall"

// The system calls, through package syscall (see sys_linux.go).

func read(fd uintptr, b []byte) (int, error) { return syscall.Read(int(fd), b) }

func write(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }

// writev writes the first of bufs: the caller comes back for the rest.
func writev(fd uintptr, bufs [][]byte, _ *iovecs) (int, error) {
	return write(fd, bufs[0])
}
