//go:build linux && !race && !msan && !asan

package nonblock

import (
	"syscall"
	"unsafe"
)

// The system calls. The socket is non-blocking, so none of them can block
// the thread, and a short one is made with RawSyscall, without the runtime's
// bookkeeping for calls that may block (see the package doc). One that may
// copy more than rawMax bytes is made with Syscall all the same: while it
// copies, the runtime may run the goroutine's other work on another thread.
//
// Not with the race detector or the memory sanitizers: package syscall's
// calls tell them which memory a call reads or writes and that a write
// happens before the read that gets its bytes, and raw calls would not
// (sys_unix.go serves those builds).

// rawMax is the most bytes a call made with RawSyscall may copy: about 10
// microseconds' worth, below the 20 after which the runtime would hand a
// processor in a system call to another thread.
const rawMax = 64 << 10

func read(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_READ, fd, b) }

func write(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_WRITE, fd, b) }

// call makes the read or write system call trap of b on fd.
func call(trap, fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var n uintptr
	var e syscall.Errno
	if len(b) <= rawMax {
		n, _, e = syscall.RawSyscall(trap, fd, uintptr(p), uintptr(len(b)))
	} else {
		n, _, e = syscall.Syscall(trap, fd, uintptr(p), uintptr(len(b)))
	}
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
	size := 0
	for _, b := range bufs[:min(len(bufs), maxIovecs)] {
		if len(b) > 0 {
			e := syscall.Iovec{Base: &b[0]}
			e.SetLen(len(b))
			v = append(v, e)
			size += len(b)
		}
	}
	*iov = v
	if len(v) == 0 {
		return 0, nil
	}
	var n uintptr
	var e syscall.Errno
	if size <= rawMax {
		n, _, e = syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	} else {
		n, _, e = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	}
	clear(v) // drop the references to the buffers
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
