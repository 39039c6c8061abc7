//go:build !unix

package trywrite

import "syscall"

// Write writes nothing where non-blocking socket writes are not wired up: a
// blocking writer sends everything.
func Write(rc syscall.RawConn, b []byte) int { return 0 }
