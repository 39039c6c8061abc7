package filestore

import (
	"os"
	"syscall"
)

// datasync makes f's written data durable (fdatasync: the data and the
// size, not the times).
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
