package nonblock

import (
	"syscall"
	"unsafe"
)

// The system calls, made with RawSyscall: the socket is non-blocking, so
// none of them can block the thread (see the package doc).

func read(fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func write(fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// maxIovecs is how many buffers one writev takes (the kernel's IOV_MAX).
const maxIovecs = 1024

// writev writes bufs (more than one) with one system call, through iov,
// which it reuses.
func writev(fd uintptr, bufs [][]byte, iov *iovecs) (int, error) {
	v := (*iov)[:0]
	for _, b := range bufs[:min(len(bufs), maxIovecs)] {
		if len(b) > 0 {
			e := syscall.Iovec{Base: &b[0]}
			e.SetLen(len(b))
			v = append(v, e)
		}
	}
	*iov = v
	if len(v) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	clear(v) // drop the references to the buffers
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
