//go:build unix

package trywrite

import "syscall"

// Write writes as much of b as the socket takes without waiting and returns
// how much that was; on any error it reports 0 and leaves the failure for a
// blocking writer to meet.
func Write(rc syscall.RawConn, b []byte) int {
	var n int
	err := rc.Write(func(fd uintptr) bool {
		k, err := syscall.Write(int(fd), b)
		if err == nil && k > 0 {
			n = k
		}
		return true // never wait for the socket to become writable
	})
	if err != nil {
		return 0
	}
	return n
}
