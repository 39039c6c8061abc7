package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// logStore is a minimal segmented append-only log of checksummed records:
//
//	[length uint32][crc32c uint32 of type+body][type byte][body]
//
// with type put (body: handle uint64 + job record) or finish (body: handle
// uint64). One goroutine collects every pending record, writes them with
// one write and one fdatasync, then releases the waiters (group commit).
// A segment is closed at segmentSize and a new one begun; a prefix of
// segments with no live put left is deleted once the finishes that killed
// them are durable. It keeps, as the job server would, an index from
// handle to the segment holding its put.
type logStore struct {
	dir      string
	prealloc bool // segments are zero-filled to segmentSize when begun

	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte       // encoded records not yet written
	waiters []chan error // released after the next sync
	closing bool

	// owned by the commit goroutine (and Open/Replay before it starts)
	f        *os.File
	seg      int   // active segment number
	segBytes int64 // bytes in the active segment
	first    int   // oldest segment on disk

	idxMu sync.Mutex
	where map[uint64]int // live handle -> segment of its put
	live  map[int]int    // segment -> live puts in it

	done chan struct{}
	err  error // sticky write error
}

const (
	segmentSize = 32 << 20
	recPut      = 1
	recFinish   = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("%08d.seg", n)) }

func openLog(dir string, prealloc bool) (Store, error) {
	s := &logStore{dir: dir, prealloc: prealloc, where: map[uint64]int{}, live: map[int]int{}, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		segs = []int{0}
	}
	s.first, s.seg = segs[0], segs[len(segs)-1]
	f, err := os.OpenFile(segName(dir, s.seg), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if prealloc && fi.Size() == 0 {
		if err := zeroFill(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	// With prealloc the end of the data is found by Replay (a zero length).
	s.f, s.segBytes = f, fi.Size()
	go s.commitLoop()
	return s, nil
}

func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []int
	for _, e := range ents {
		var n int
		if name, ok := strings.CutSuffix(e.Name(), ".seg"); ok {
			if _, err := fmt.Sscanf(name, "%d", &n); err == nil {
				segs = append(segs, n)
			}
		}
	}
	sort.Ints(segs)
	return segs, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func appendRecord(b []byte, typ byte, h uint64, rec []byte) []byte {
	n := 1 + 8 + len(rec)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	at := len(b)
	b = append(b, 0, 0, 0, 0, typ)
	b = binary.BigEndian.AppendUint64(b, h)
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[at:], crc32.Checksum(b[at+4:], castagnoli))
	return b
}

// enqueue adds one encoded record; errc, if not nil, hears when it is durable.
func (s *logStore) enqueue(b []byte, errc chan error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.pending = append(s.pending, b...)
	if errc != nil {
		s.waiters = append(s.waiters, errc)
	}
	s.cond.Signal()
	return nil
}

func (s *logStore) commitLoop() {
	defer close(s.done)
	var buf []byte
	var waiters []chan error
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closing {
			s.cond.Wait()
		}
		if len(s.pending) == 0 && s.closing {
			s.mu.Unlock()
			return
		}
		buf, s.pending = s.pending, buf[:0]
		waiters, s.waiters = s.waiters, waiters[:0]
		s.mu.Unlock()

		err := s.write(buf)
		for _, w := range waiters {
			w <- err
		}
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
		}
		s.reclaim()
	}
}

// write appends buf (whole records) to the log and syncs it, beginning a
// new segment first when the active one is full.
func (s *logStore) write(buf []byte) error {
	if s.segBytes >= segmentSize {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if _, err := s.f.WriteAt(buf, s.segBytes); err != nil {
		return fmt.Errorf("log: write %s: %w", s.f.Name(), err)
	}
	s.segBytes += int64(len(buf))
	if err := syscall.Fdatasync(int(s.f.Fd())); err != nil {
		return fmt.Errorf("log: sync %s: %w", s.f.Name(), err)
	}
	return nil
}

// zeroFill writes segmentSize zero bytes to f and syncs them, so that the
// later writes of records overwrite allocated, written blocks and their
// fdatasync has no metadata (size, extents) to flush. It stalls the commit
// loop while it runs; a real store would recycle dead segments or fill the
// next one ahead of time.
func zeroFill(f *os.File) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < segmentSize; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return err
		}
	}
	return syscall.Fdatasync(int(f.Fd()))
}

func (s *logStore) rotate() error {
	f, err := os.OpenFile(segName(s.dir, s.seg+1), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if s.prealloc {
		if err := zeroFill(f); err != nil {
			f.Close()
			return err
		}
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.f.Close()
	s.f, s.segBytes = f, 0
	s.idxMu.Lock()
	s.seg++
	s.idxMu.Unlock()
	return nil
}

// reclaim deletes the oldest segments while no live put is left in them.
// When every segment is dead and the active one is large, it begins a new
// segment so that the active one can go too.
func (s *logStore) reclaim() {
	s.idxMu.Lock()
	if len(s.where) == 0 && s.segBytes > 1<<20 {
		s.idxMu.Unlock()
		if s.rotate() != nil {
			return
		}
		s.idxMu.Lock()
	}
	var dead []int
	for s.first < s.seg && s.live[s.first] == 0 {
		dead = append(dead, s.first)
		delete(s.live, s.first)
		s.first++
	}
	s.idxMu.Unlock()
	for _, n := range dead {
		os.Remove(segName(s.dir, n))
	}
}

func (s *logStore) Put(ctx context.Context, h uint64, rec []byte) error {
	s.idxMu.Lock()
	s.where[h] = s.seg // the segment it will land in, or the next (see note)
	s.live[s.seg]++
	s.idxMu.Unlock()
	errc := make(chan error, 1)
	if err := s.enqueue(appendRecord(nil, recPut, h, rec), errc); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Note: a put counted in segment k may land in k+1 after a rotation; that
// only delays reclaiming k+1 (it is counted live in k, which is older, so
// k is never deleted while the put lives). A real store would account at
// write time.

func (s *logStore) Finish(hs []uint64) error {
	var b []byte
	s.idxMu.Lock()
	for _, h := range hs {
		if seg, ok := s.where[h]; ok {
			delete(s.where, h)
			s.live[seg]--
		}
		b = appendRecord(b, recFinish, h, nil)
	}
	s.idxMu.Unlock()
	return s.enqueue(b, nil)
}

func (s *logStore) Load(hs []uint64, recs [][]byte) error {
	var b []byte
	s.idxMu.Lock()
	for i, h := range hs {
		s.where[h] = s.seg
		s.live[s.seg]++
		b = appendRecord(b, recPut, h, recs[i])
	}
	s.idxMu.Unlock()
	errc := make(chan error, 1)
	if err := s.enqueue(b, errc); err != nil {
		return err
	}
	return <-errc
}

var errCorrupt = errors.New("log: corrupt record")

// Replay reads every segment in order, calling put for each put and
// finish for each finish of a job put earlier; so a caller that keeps a map
// ends with the live jobs. It must be called before any Put or Finish. A
// torn or corrupt record ends the replay with an error naming file and
// offset.
func (s *logStore) Replay(put func(uint64, []byte) error, finish func(uint64)) error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for _, n := range segs {
		if err := s.replaySegment(n, put, finish); err != nil {
			return err
		}
	}
	return nil
}

func (s *logStore) replaySegment(n int, put func(uint64, []byte) error, finish func(uint64)) error {
	f, err := os.Open(segName(s.dir, n))
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var hdr [8]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				if n == s.seg {
					s.segBytes = off
				}
				return nil
			}
			return fmt.Errorf("%w: %s offset %d: %v", errCorrupt, f.Name(), off, err)
		}
		ln := binary.BigEndian.Uint32(hdr[:])
		if ln == 0 && binary.BigEndian.Uint32(hdr[4:]) == 0 {
			// A preallocated segment's unwritten tail.
			if n == s.seg {
				s.segBytes = off
			}
			return nil
		}
		if ln < 9 || ln > 1<<26 {
			return fmt.Errorf("%w: %s offset %d: length %d", errCorrupt, f.Name(), off, ln)
		}
		body = slices.Grow(body[:0], int(ln))[:ln]
		if _, err := io.ReadFull(r, body); err != nil ||
			crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return fmt.Errorf("%w: %s offset %d", errCorrupt, f.Name(), off)
		}
		h := binary.BigEndian.Uint64(body[1:])
		switch body[0] {
		case recPut:
			if err := put(h, body[9:]); err != nil {
				return err
			}
			s.where[h] = n
			s.live[n]++
		case recFinish:
			if seg, ok := s.where[h]; ok {
				delete(s.where, h)
				s.live[seg]--
				finish(h)
			}
		}
		off += 8 + int64(ln)
	}
}

func (s *logStore) Close() error {
	s.mu.Lock()
	s.closing = true
	s.cond.Signal()
	s.mu.Unlock()
	<-s.done
	err := syscall.Fdatasync(int(s.f.Fd()))
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return err
}
