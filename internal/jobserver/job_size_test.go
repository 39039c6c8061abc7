package jobserver

import (
	"testing"
	"unsafe"
)

// A job fits the 224-byte allocation size class: a million queued jobs
// cost 16 MB more at the next class (240). Fields that few jobs use go in
// jobExtra or, for a running job's timeout, runTimer.
func TestJobSize(t *testing.T) {
	if n := unsafe.Sizeof(job{}); n > 224 {
		t.Errorf("a job is %d bytes; it must fit the 224-byte size class", n)
	}
}
