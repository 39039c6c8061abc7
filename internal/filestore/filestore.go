// Package filestore is the job server's embedded durable store: an
// append-only log of checksummed records in a directory of segment files,
// written with group commit and compacted while the server runs.
//
// # Durability
//
// Records are queued in memory by the engine's transitions (never under
// I/O) and written by one goroutine: each write carries every record queued
// since the previous one, and is followed by one fdatasync, so many submits
// from many connections share one sync. A job's creation is acknowledged
// only once its record is synced. A job's later transitions (assigned,
// requeued, finished) are not waited for: after a crash a job that
// finished within the last commit window may run again (at-least-once).
//
// # Space
//
// A segment is closed at [Options.SegmentSize] and a new one begun: the
// spare, a file of that many zero bytes filled ahead of time in the
// background (spare.go), so that records overwrite blocks the file already
// has and each sync flushes data alone. A segment begun while no spare is
// ready is a file that grows, and the log moves on to the spare as soon as
// it is ready. So the directory holds one spare more than the log, and a
// segment's file is SegmentSize bytes however little it holds.
//
// The oldest segment is reclaimed once it holds little that is live (less
// than half its bytes), or once the log is more than twice the live data
// plus two segments: its live jobs are written again at the head of the
// log (with their queue positions kept), and once that is synced the
// segment is deleted. So the files stay within about twice the live data,
// and replay reads what is queued, not the history.
//
// # Faults
//
// A write or sync that fails fails the records of that write (their
// submits are refused with QUEUE_ERROR), and the segment is cut back to its
// last good record; if even that fails, the log refuses every record from
// then on ([Log.Healthy]). At open, a segment's zero tail is its clean end
// (no record starts with a zero length); a torn record at the end of the
// newest segment (a crash mid-write) is cut and logged; damage anywhere
// else stops the open with a [*CorruptError] naming the file and offset,
// unless [Options.Salvage] is set, which skips the damage and keeps what
// can be read. A second process opening the same directory gets
// [ErrLocked].
package filestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// DefaultSegmentSize is the size at which a segment is closed.
const DefaultSegmentSize = 64 << 20

// ErrLocked is the error of opening a store that another process has open.
var ErrLocked = errors.New("filestore: the store is in use by another process")

// CorruptError reports a damaged record.
type CorruptError struct {
	File   string
	Offset int64
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("filestore: damaged record in %s at offset %d (start with salvage to skip damaged records)", e.File, e.Offset)
}

// Options configure Open.
type Options struct {
	// SegmentSize is the size at which a segment is closed and a new one
	// begun. Default DefaultSegmentSize.
	SegmentSize int64
	// Salvage opens a damaged store anyway, skipping the damaged records
	// (the jobs they held are lost) and logging each.
	Salvage bool
	// Logger receives torn tails, salvaged damage and write failures.
	Logger *slog.Logger

	noSpare bool // tests: no spare segment, so records stay where a test put them
}

// Log is an open store directory. It implements store.Log.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	mu       sync.Mutex
	cur      *batch // records waiting for the committer; guarded by mu
	seq      uint64 // the last queue position given; guarded by mu
	maxID    uint64 // the highest job id recorded; guarded by mu
	nextSeg  uint32 // the segment cur will be written to; guarded by mu
	segFill  int64  // the bytes nextSeg will hold once cur is written; guarded by mu
	batchNo  uint64 // cur's number; guarded by mu
	broken   error  // set once a failed write could not be undone; guarded by mu
	closed   bool   // guarded by mu
	spare    []byte // a written batch's buffer, for reuse; guarded by mu
	spareOps []op   // a written batch's ops, for reuse; guarded by mu
	replayed []*rjob

	kick    chan struct{} // a record was queued
	quit    chan struct{} // Close was called
	stopped chan struct{} // the committer has ended

	started bool // Start was called

	// The committer's own.
	relog     store.Relogger
	f         *os.File // the newest segment
	fSeg      uint32
	fSize     int64
	fZeroed   bool       // f was a spare: zero bytes to SegmentSize past fSize
	spareSeg  *spare     // the next segment being filled or ready, or nil
	segs      []*segInfo // oldest first; the last is f's
	committed uint64     // the number of the last batch written
}

// segInfo is what the committer knows of one segment.
type segInfo struct {
	n         uint32
	size      int64
	live      int64  // bytes of the newest full records of live jobs
	ids       idList // the jobs with a full record here (some since gone)
	relogged  bool   // its live jobs were written again at the head
	dropAfter uint64 // with relogged: the batch after whose write it can go
}

// batch is the records of one write and one sync; it is the store.Commit
// of each record in it.
type batch struct {
	no    uint64
	seg   uint32
	buf   []byte
	large []payloadRef // payloads written from the job's own buffer, in buf order
	extra int64        // their bytes: the batch writes len(buf)+extra
	ops   []op
	done  chan struct{}
	err   error
}

// payloadRef is a large payload that a batch writes where it stands, after
// buf[:at], rather than copied into buf: a sized job's payload is then held
// once, by the job, not twice until its record is written. The engine never
// changes a job's payload, so the reference stays good.
type payloadRef struct {
	at   int
	data []byte
}

// largePayload is the size from which a payload is written from where it
// stands, not copied into the batch.
const largePayload = 64 << 10

// op is the accounting of one record of a batch, applied once it is
// written.
type op struct {
	create bool // else a finish
	id     uint64
	seg    uint32
	size   uint32
}

func (b *batch) Done() <-chan struct{} { return b.done }
func (b *batch) Err() error            { return b.err }

// Open opens (creating if needed) the store in directory dir and reads
// every job it holds, for the engine's Replay.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	l := &Log{
		dir: dir, opts: opts, log: opts.Logger,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("filestore: %s: %w", dir, err)
	}
	l.lock = lock
	if err := l.load(); err != nil {
		lock.Close()
		return nil, err
	}
	l.findSpare()
	if err := l.begin(); err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

// begin opens the segment this run's records go to: the newest one, read
// to its last intact record, while it has room; else a new one.
func (l *Log) begin() error {
	if n := len(l.segs); n > 0 && l.segs[n-1].size < l.opts.SegmentSize {
		last := l.segs[n-1]
		f, err := os.OpenFile(segPath(l.dir, last.n), os.O_WRONLY, 0)
		var fi os.FileInfo
		if err == nil {
			fi, err = f.Stat()
		}
		if err == nil && last.size == 0 {
			// A spare taken up just before a crash: its header is missing.
			last.size, err = l.writeHeader(f, last.n)
		}
		if err == nil {
			_, err = f.Seek(last.size, io.SeekStart)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			return fmt.Errorf("filestore: %w", err)
		}
		l.f, l.fSeg, l.fSize = f, last.n, last.size
		l.fZeroed = fi.Size() >= l.opts.SegmentSize
		l.nextSeg = last.n
	} else {
		l.nextSeg = max(l.nextSeg, 1)
		if err := l.openSegment(l.nextSeg); err != nil {
			return err
		}
	}
	l.cur = l.newBatch()
	l.segFill = l.fSize
	return nil
}

// openSegment creates segment n (from the spare when one is ready) with
// its header and makes it the one written to.
func (l *Log) openSegment(n uint32) error {
	path := segPath(l.dir, n)
	f, zeroed, err := l.createSegment(path)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	size, err := l.writeHeader(f, n)
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("filestore: starting segment %s: %w", path, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.fSeg, l.fSize, l.fZeroed = f, n, size, zeroed
	l.segs = append(l.segs, &segInfo{n: n, size: l.fSize})
	return nil
}

// writeHeader writes segment n's header at the start of f, which it syncs,
// and returns the header's size.
func (l *Log) writeHeader(f *os.File, n uint32) (int64, error) {
	l.mu.Lock()
	hdr := appendFrame(nil, func(b []byte) []byte {
		b = append(b, kindHeader, formatVersion)
		return appendUvarints(b, uint64(n), l.maxID, l.seq)
	})
	l.mu.Unlock()
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return 0, err
	}
	return int64(len(hdr)), datasync(f)
}

func appendUvarints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = appendUvarint(b, v)
	}
	return b
}

// newBatch returns an empty batch for segment l.nextSeg; l.mu held or
// not yet shared.
func (l *Log) newBatch() *batch {
	l.batchNo++
	b := &batch{no: l.batchNo, seg: l.nextSeg, done: make(chan struct{}), buf: l.spare[:0], ops: l.spareOps[:0]}
	l.spare, l.spareOps = nil, nil
	return b
}

// Replay implements store.Log.
func (l *Log) Replay(fn func(*store.Job, store.Ref)) uint64 {
	for i, r := range l.replayed {
		fn(&r.job, r.ref)
		l.replayed[i] = nil
	}
	l.replayed = nil
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxID
}

// Start implements store.Log.
func (l *Log) Start(relog store.Relogger) {
	l.relog = relog
	l.started = true
	l.maybeSpare()
	go l.run()
}

// queue adds a record built by add to the current batch and wakes the
// committer; it returns the batch. l.mu held.
func (l *Log) queue(add func([]byte) []byte, o op) *batch {
	b := l.cur
	before := len(b.buf) + int(b.extra)
	b.buf = add(b.buf)
	n := int64(len(b.buf) + int(b.extra) - before)
	l.segFill += n
	o.seg, o.size = b.seg, uint32(n)
	if o.create || o.id != 0 {
		b.ops = append(b.ops, o)
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return b
}

// Created implements store.Log.
func (l *Log) Created(j store.Job, seq uint64) (store.Ref, store.Commit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.refusal(); err != nil {
		return store.Ref{}, failed(err)
	}
	if seq == 0 {
		l.seq++
		seq = l.seq
	}
	l.maxID = max(l.maxID, j.ID)
	b := l.queue(func(dst []byte) []byte {
		if len(j.Data) < largePayload {
			return appendCreate(dst, &j, seq)
		}
		dst = appendCreateHead(dst, &j, seq)
		l.cur.large = append(l.cur.large, payloadRef{at: len(dst), data: j.Data})
		l.cur.extra += int64(len(j.Data))
		return dst
	}, op{create: true, id: j.ID})
	o := b.ops[len(b.ops)-1]
	return store.Ref{Seg: o.seg, Size: o.size, Seq: seq}, b
}

// refusal is why no record can be queued now, or nil; l.mu held.
func (l *Log) refusal() error {
	switch {
	case l.closed:
		return store.ErrClosed
	case l.broken != nil:
		return l.broken
	}
	return nil
}

// small queues a record of no consequence for space.
func (l *Log) small(kind byte, fields ...uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal() != nil {
		return
	}
	l.queue(func(dst []byte) []byte { return appendSmall(dst, kind, fields...) }, op{})
}

// Assigned implements store.Log.
func (l *Log) Assigned(ref store.Ref, id uint64) { l.small(kindAssign, id) }

// RunEnded implements store.Log.
func (l *Log) RunEnded(ref store.Ref, id uint64, _ int64) { l.small(kindRunEnd, id) }

// Requeued implements store.Log.
func (l *Log) Requeued(ref store.Ref, id uint64, retries int32) store.Ref {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal() != nil {
		return ref
	}
	l.seq++
	ref.Seq = l.seq
	l.queue(func(dst []byte) []byte { return appendSmall(dst, kindRequeue, id, ref.Seq, uint64(max(retries, 0))) }, op{})
	return ref
}

// Failed implements store.Log: the job's newest full record, at the tail,
// supersedes the one ref names.
func (l *Log) Failed(ref store.Ref, j store.Job) store.Ref {
	nref, _ := l.Created(j, 0)
	if nref == (store.Ref{}) {
		return ref // refused: the log is closed or broken
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The old record is no longer the job's live one.
	l.cur.ops = append(l.cur.ops, op{id: j.ID, seg: ref.Seg, size: ref.Size})
	return nref
}

// Finished implements store.Log.
func (l *Log) Finished(ref store.Ref, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal() != nil {
		return
	}
	b := l.queue(func(dst []byte) []byte { return appendSmall(dst, kindFinish, id) }, op{})
	b.ops = append(b.ops, op{id: id, seg: ref.Seg, size: ref.Size})
}

// Healthy implements store.Log: nil while records can be written, else
// the write error that broke the log, or store.ErrClosed after Close.
func (l *Log) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusal()
}

// Ping implements store.Log: the directory is local, so it answers as
// Healthy.
func (l *Log) Ping(context.Context) error { return l.Healthy() }

// Where implements store.Log.
func (l *Log) Where() string { return "file:" + l.dir }

// failed returns a commit that has already failed with err.
func failed(err error) store.Commit {
	b := &batch{done: make(chan struct{}), err: err}
	close(b.done)
	return b
}

// run is the committer: it writes and syncs batches until Close.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		select {
		case <-l.kick:
		case <-l.quit:
			l.flush()
			return
		}
		l.flush()
		l.compact()
	}
}

// flush writes the current batch, if it has records.
func (l *Log) flush() {
	l.mu.Lock()
	b := l.cur
	if len(b.buf) == 0 {
		l.mu.Unlock()
		return
	}
	// The next batch goes to a new segment when this one is full, or when
	// this one grows as it is written and a zero-filled spare is ready.
	if l.segFill >= l.opts.SegmentSize || (b.seg == l.fSeg && !l.fZeroed && l.spareReady()) {
		l.nextSeg = b.seg + 1
		l.segFill = 0
	}
	l.cur = l.newBatch()
	l.mu.Unlock()
	b.err = l.write(b)
	l.committed = b.no
	if b.err == nil {
		l.account(b)
	}
	l.mu.Lock()
	if cap(b.buf) <= 4<<20 {
		l.spare = b.buf[:0]
	}
	if cap(b.ops) <= 64<<10 {
		l.spareOps = b.ops[:0]
	}
	l.mu.Unlock()
	b.buf, b.large, b.ops = nil, nil, nil
	close(b.done)
}

// write writes batch b and syncs it.
func (l *Log) write(b *batch) error {
	if b.seg != l.fSeg {
		if err := l.openSegment(b.seg); err != nil {
			return l.fail(&store.WriteError{Where: segPath(l.dir, b.seg), Err: err}, false)
		}
		l.mu.Lock()
		l.segFill = l.fSize + int64(len(l.cur.buf)) + l.cur.extra
		l.mu.Unlock()
	}
	err := b.writeTo(l.f)
	if err == nil {
		err = datasync(l.f)
	}
	if err != nil {
		return l.fail(&store.WriteError{Where: l.f.Name(), Err: err}, true)
	}
	l.fSize += int64(len(b.buf)) + b.extra
	l.segs[len(l.segs)-1].size = l.fSize
	l.maybeSpare()
	return nil
}

// writeTo writes the batch's records to f: its buffer, with the large
// payloads between its pieces.
func (b *batch) writeTo(f *os.File) error {
	at := 0
	for _, p := range b.large {
		if _, err := f.Write(b.buf[at:p.at]); err != nil {
			return err
		}
		if _, err := f.Write(p.data); err != nil {
			return err
		}
		at = p.at
	}
	_, err := f.Write(b.buf[at:])
	return err
}

// fail handles a write that failed: the segment is cut back to its last
// good record, or the log is broken for good if that fails too.
func (l *Log) fail(err *store.WriteError, cut bool) error {
	l.log.Error("store: write failed; its submits are refused", "err", err)
	if cut {
		l.fZeroed = false // the file ends at the cut now
		var cerr error
		if cerr = l.f.Truncate(l.fSize); cerr == nil {
			if _, cerr = l.f.Seek(l.fSize, io.SeekStart); cerr == nil {
				cerr = datasync(l.f)
			}
		}
		if cerr != nil {
			l.log.Error("store: cannot undo a failed write; refusing every record from now on", "file", l.f.Name(), "err", cerr)
			l.mu.Lock()
			l.broken = &store.WriteError{Where: l.f.Name(), Err: cerr}
			l.mu.Unlock()
		}
	}
	return err
}

// account applies a written batch's records to the segments' live bytes.
func (l *Log) account(b *batch) {
	var s *segInfo
	for _, o := range b.ops {
		if s == nil || s.n != o.seg {
			// Most of a batch's records are in one segment: look it up
			// once, not for each.
			if s = l.seg(o.seg); s == nil {
				continue
			}
		}
		if o.create {
			s.live += int64(o.size)
			s.ids.add(o.id)
		} else {
			s.live = max(s.live-int64(o.size), 0)
		}
	}
}

// seg returns segment n's info, or nil once it is gone.
func (l *Log) seg(n uint32) *segInfo {
	i, ok := slices.BinarySearchFunc(l.segs, n, func(s *segInfo, n uint32) int { return cmp.Compare(s.n, n) })
	if !ok {
		return nil
	}
	return l.segs[i]
}

// compact reclaims the oldest segment when it is mostly dead, or when the
// log has grown well past its live data.
func (l *Log) compact() {
	for len(l.segs) > 1 {
		old := l.segs[0]
		var size, live int64
		for _, s := range l.segs {
			size += s.size
			live += s.live
		}
		if !(old.live*2 < old.size || size > 2*live+2*l.opts.SegmentSize) {
			return
		}
		if !old.relogged {
			old.relogged = true
			if old.live > 0 && l.relog != nil {
				l.relog.Relog(old.n, old.ids.ids())
			}
			l.mu.Lock()
			old.dropAfter = l.batchNo
			if len(l.cur.buf) == 0 {
				old.dropAfter = l.batchNo - 1
			}
			l.mu.Unlock()
		}
		if old.dropAfter > l.committed {
			return // after the next write
		}
		path := segPath(l.dir, old.n)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.log.Error("store: cannot delete a compacted segment", "file", path, "err", err)
			return
		}
		if err := syncDir(l.dir); err != nil {
			l.log.Error("store: cannot sync the store directory", "dir", l.dir, "err", err)
		}
		l.segs[0] = nil
		l.segs = l.segs[1:]
	}
}

// Close implements store.Log: it writes what is queued and releases the
// directory.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	var err error
	if !l.started {
		go l.run() // never started: nothing is queued, but end the same way
	}
	close(l.quit)
	select {
	case <-l.stopped:
	case <-ctx.Done():
		err = fmt.Errorf("filestore: closing %s: %w", l.dir, ctx.Err())
		<-l.stopped
	}
	l.waitSpare()
	if l.f != nil {
		if cerr := l.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("filestore: %w", cerr)
		}
	}
	l.lock.Close()
	return err
}
