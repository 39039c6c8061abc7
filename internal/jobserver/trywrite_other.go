//go:build !unix

package jobserver

import "syscall"

// tryWrite writes nothing where non-blocking socket writes are not wired up:
// the writer goroutine sends everything.
func tryWrite(rc syscall.RawConn, b []byte) int { return 0 }
