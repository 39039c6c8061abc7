//go:build linux

package pgtest

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// exited reports whether the child process pid has exited, without reaping
// it (waitid with WNOWAIT, as package os does before it waits), so that no
// goroutine has to sit in Wait for the life of a server.
func exited(pid int) bool {
	// siginfo_t: 128 bytes; si_signo, si_errno and si_code (int32 each),
	// then a union aligned as a pointer, whose first field is si_pid: 0
	// when WNOHANG found no change.
	var info [128]byte
	pidAt := (12 + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)
	const pPID = 1
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return binary.NativeEndian.Uint32(info[pidAt:]) != 0
		case syscall.EINTR:
			continue
		default: // ECHILD: reaped already, or not ours
			return true
		}
	}
}
