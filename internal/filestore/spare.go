package filestore

import (
	"errors"
	"os"
	"path/filepath"
)

// This file keeps a spare segment: a file of SegmentSize zero bytes,
// written and synced ahead of time by a goroutine of its own, which
// becomes the next segment (renamed, its header written at the start).
//
// Records then overwrite blocks that are already the file's: an fdatasync
// after such a write flushes the data alone, where one after an append
// that grows the file must also commit the new size and blocks to the
// file system's journal. On this project's test machine (ext4) that made
// the log's durable puts 1.4-1.75x as fast (internal/benchtools/storecmp/
// RESULTS.md), and cmd/gearmand's durable submits 1.0-1.2x (BENCHMARKS.md,
// session 8: there the CPU bounds the rate more than the syncs).
// Replay stops at a segment's zero tail: no record starts with a zero
// length. A segment begun while no spare is ready is an ordinary file that
// grows; the log moves on to the spare as soon as it is ready.
//
// The spare is only ever written with zeros, so one left by an earlier run
// (a clean stop, or a crash mid-fill) is taken up again: a complete one is
// ready at Open, a short one is filled on.

// spareName is the spare's file name in the store directory; it does not
// end in ".log", so it is never read as a segment.
const spareName = "spare.zero"

// fillStep is how much of the spare is written and synced at once: small
// steps keep each sync of the spare short, as the file system may make a
// commit's sync wait for it.
const fillStep = 1 << 20

var zeros [fillStep]byte

// errStopped ends a fill that Close interrupted.
var errStopped = errors.New("filestore: closed before the spare segment was filled")

// spare is the state of one spare segment.
type spare struct {
	done chan struct{} // closed once the fill has ended
	err  error         // why it could not be filled; read after done
}

// spareFile returns the spare's path.
func (l *Log) spareFile() string { return filepath.Join(l.dir, spareName) }

// findSpare takes up a complete spare left by an earlier run, at Open.
func (l *Log) findSpare() {
	if l.opts.noSpare {
		return
	}
	if fi, err := os.Stat(l.spareFile()); err == nil && fi.Size() >= l.opts.SegmentSize {
		sp := &spare{done: make(chan struct{})}
		close(sp.done)
		l.spareSeg = sp
	}
}

// maybeSpare begins filling the next spare once it is wanted: at once when
// the segment being written is one that grows, else once it is half full.
// Filling the spare shares the disk and the file system's journal with the
// commits' syncs, so it is not begun as soon as the last spare is taken
// (whether it slows them was not measured: BENCHMARKS.md, session 8). The committer calls it (or Start,
// before the committer runs).
func (l *Log) maybeSpare() {
	if !l.fZeroed || l.fSize >= l.opts.SegmentSize/2 {
		l.startSpare()
	}
}

// startSpare begins filling a spare, unless one is ready or being filled.
func (l *Log) startSpare() {
	if l.opts.noSpare || l.spareSeg != nil {
		return
	}
	sp := &spare{done: make(chan struct{})}
	l.spareSeg = sp
	go func() {
		defer close(sp.done)
		sp.err = l.fillSpare()
		if sp.err != nil && sp.err != errStopped {
			l.log.Warn("store: cannot prepare the next segment; it will grow as it is written", "file", l.spareFile(), "err", sp.err)
		}
	}()
}

// fillSpare writes the spare's zeros from where an earlier fill stopped,
// until SegmentSize or Close.
func (l *Log) fillSpare() error {
	f, err := os.OpenFile(l.spareFile(), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	for off := fi.Size(); off < l.opts.SegmentSize; {
		select {
		case <-l.quit:
			return errStopped
		default:
		}
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), l.opts.SegmentSize-off)], off)
		if err == nil {
			err = datasync(f)
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// spareReady reports whether a filled spare is ready to be taken.
func (l *Log) spareReady() bool {
	if l.spareSeg == nil {
		return false
	}
	select {
	case <-l.spareSeg.done:
		if l.spareSeg.err != nil {
			l.spareSeg = nil // try again for the next segment
			return false
		}
		return true
	default:
		return false
	}
}

// createSegment creates the file of a new segment at path: the spare
// renamed when one is ready (zeroed true), else a new empty file.
func (l *Log) createSegment(path string) (f *os.File, zeroed bool, err error) {
	if l.spareReady() {
		l.spareSeg = nil
		if err := os.Rename(l.spareFile(), path); err != nil {
			l.log.Warn("store: cannot take up the spare segment", "file", l.spareFile(), "err", err)
		} else if f, err := os.OpenFile(path, os.O_WRONLY, 0); err != nil {
			os.Remove(path)
			l.log.Warn("store: cannot take up the spare segment", "file", path, "err", err)
		} else {
			return f, true, nil
		}
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	return f, false, err
}

// waitSpare waits for the spare's fill to end, at Close (which has
// signalled it to stop).
func (l *Log) waitSpare() {
	if l.spareSeg != nil {
		<-l.spareSeg.done
	}
}
