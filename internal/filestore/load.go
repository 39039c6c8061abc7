package filestore

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// This file reads the log at Open: every segment in turn, each record
// applied to the jobs it names, and what survives handed to the engine by
// Replay in queue order.
//
// A million queued jobs must replay in a few seconds, so the loader keeps
// its garbage small: the jobs are made in blocks and kept in the order their
// records came (which is queue order unless jobs were requeued or moved by
// compaction, and then nearly so: sorting is skipped when it is not
// needed), function names are shared, and one buffer is reused for every
// segment. Jobs are found by id without a map of them all: a job's first
// full record has an id above every id before it (the server numbers jobs
// as they come), so those jobs are in id order, searched by halving; only
// jobs written again by compaction, which carry older ids, are in a map.

// rjob is a job being replayed.
type rjob struct {
	job      store.Job
	ref      store.Ref
	assigned bool
	gone     bool // finished, or superseded by a newer full record
}

// loader is the state of one load.
type loader struct {
	fresh []*rjob          // the jobs of first full records, in id order
	moved map[uint64]*rjob // the jobs of full records written again, by id: the newest
	order []*rjob          // every job made, in record order
	block []rjob           // where the next jobs are made
	funcs map[string]string
	buf   []byte // the segment being read
}

// jobBlock is how many jobs the loader makes at once.
const jobBlock = 1024

// load reads every segment.
func (l *Log) load() error {
	nums, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	ld := &loader{moved: make(map[uint64]*rjob), funcs: make(map[string]string)}
	for i, n := range nums {
		if err := l.loadSegment(ld, n, i == len(nums)-1); err != nil {
			return err
		}
		l.nextSeg = n + 1
	}
	live := 0
	for _, r := range ld.order {
		if !r.gone {
			live++
		}
	}
	l.replayed = make([]*rjob, 0, live)
	for _, r := range ld.order {
		if r.gone {
			continue
		}
		if r.assigned && !r.job.Dead {
			r.job.Lost = true
			r.job.Retries++
		}
		l.replayed = append(l.replayed, r)
	}
	bySeq := func(a, b *rjob) int { return cmp.Compare(a.ref.Seq, b.ref.Seq) }
	if !slices.IsSortedFunc(l.replayed, bySeq) {
		slices.SortFunc(l.replayed, bySeq)
	}
	// Account the surviving records per segment.
	bySeg := make(map[uint32]*segInfo)
	for _, s := range l.segs {
		bySeg[s.n] = s
	}
	for _, r := range l.replayed {
		if s := bySeg[r.ref.Seg]; s != nil {
			s.live += int64(r.ref.Size)
			s.ids.add(r.job.ID)
		}
	}
	return nil
}

// readSegment reads segment file path whole into ld's buffer.
func (ld *loader) readSegment(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if int64(cap(ld.buf)) < fi.Size() {
		ld.buf = make([]byte, fi.Size())
	}
	b := ld.buf[:fi.Size()]
	n, err := io.ReadFull(f, b)
	if err == io.ErrUnexpectedEOF {
		err = nil // it shrank meanwhile: what was read is the segment
	}
	return b[:n], err
}

// loadSegment reads segment n into ld.
func (l *Log) loadSegment(ld *loader, n uint32, last bool) error {
	path := segPath(l.dir, n)
	b, err := ld.readSegment(path)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	off := 0
	for off < len(b) {
		body, size, ok := parseFrame(b[off:])
		var r record
		if ok {
			r, err = parseBody(body)
			ok = err == nil
		}
		if !ok && allZero(b[off:]) {
			b = b[:off] // the rest of a zero-filled segment (spare.go)
			break
		}
		if !ok {
			next := nextFrame(b, off)
			switch {
			case last && next < 0:
				l.log.Warn("store: cutting a torn record at the end of the log (a write the crash interrupted)", "file", path, "offset", off, "bytes", len(b)-off)
				if err := os.Truncate(path, int64(off)); err != nil {
					return fmt.Errorf("filestore: cutting the torn tail of %s: %w", path, err)
				}
				b = b[:off]
				continue
			case !l.opts.Salvage:
				return &CorruptError{File: path, Offset: int64(off)}
			case next < 0:
				l.log.Error("store: salvage: skipping damaged records to the end of the segment", "file", path, "offset", off, "bytes", len(b)-off)
				b = b[:off]
				continue
			default:
				l.log.Error("store: salvage: skipping damaged records", "file", path, "offset", off, "bytes", next-off)
				off = next
				continue
			}
		}
		l.apply(ld, r, n, uint32(size))
		off += size
	}
	l.segs = append(l.segs, &segInfo{n: n, size: int64(len(b))})
	return nil
}

// apply replays one record.
func (l *Log) apply(ld *loader, r record, seg, size uint32) {
	// An id above every id read so far has no earlier record: a new job's
	// create needs no look-up (only a job written again by compaction does).
	fresh := r.id > l.maxID
	l.maxID = max(l.maxID, r.id)
	switch r.kind {
	case kindHeader:
		l.seq = max(l.seq, r.seq)
	case kindCreate, kindFailed:
		if !fresh {
			if old := ld.find(r.id); old != nil {
				old.gone = true
			}
		}
		j := ld.newJob()
		j.job = r.job
		j.job.Func = ld.intern(r.fn)
		j.job.Unique = string(r.unique)
		j.job.Data = append([]byte(nil), r.job.Data...) // the engine's to keep
		j.job.Retries = int32(min(r.retries, 1<<31-1))
		j.ref = store.Ref{Seg: seg, Size: size, Seq: r.seq}
		if fresh {
			ld.fresh = append(ld.fresh, j)
		} else {
			ld.moved[r.id] = j
		}
		l.seq = max(l.seq, r.seq)
	case kindAssign:
		if j := ld.find(r.id); j != nil {
			j.assigned = true
		}
	case kindRequeue:
		if j := ld.find(r.id); j != nil {
			j.assigned = false
			j.job.Retries = int32(min(r.retries, 1<<31-1))
			j.ref.Seq = r.seq
		}
		l.seq = max(l.seq, r.seq)
	case kindRunEnd:
		if j := ld.find(r.id); j != nil {
			j.assigned = false
		}
	case kindFinish:
		if j := ld.find(r.id); j != nil {
			j.gone = true
			delete(ld.moved, r.id)
		}
	}
}

// find returns the live job with id, from its newest full record, or nil.
func (ld *loader) find(id uint64) *rjob {
	if j := ld.moved[id]; j != nil {
		return j
	}
	i, ok := slices.BinarySearchFunc(ld.fresh, id, func(j *rjob, id uint64) int { return cmp.Compare(j.job.ID, id) })
	if !ok || ld.fresh[i].gone {
		return nil
	}
	return ld.fresh[i]
}

// newJob returns a zeroed job, kept in record order.
func (ld *loader) newJob() *rjob {
	if len(ld.block) == 0 {
		ld.block = make([]rjob, jobBlock)
	}
	j := &ld.block[0]
	ld.block = ld.block[1:]
	ld.order = append(ld.order, j)
	return j
}

// intern returns name as a string shared by every job of that function.
func (ld *loader) intern(name []byte) string {
	if s, ok := ld.funcs[string(name)]; ok {
		return s
	}
	s := string(name)
	ld.funcs[s] = s
	return s
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
