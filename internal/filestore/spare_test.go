package filestore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman/internal/store"
)

// withSpare puts a complete spare segment in dir, as a run before would
// have left it, so that the first segment Open begins is zero-filled.
func withSpare(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, spareName), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logTo returns a logger that writes to buf.
func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ids(jobs []store.Job) []uint64 {
	var out []uint64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestZeroFilledSegmentReplaysCleanly(t *testing.T) {
	const seg = 1 << 20
	dir := t.TempDir()
	withSpare(t, dir, seg)
	var logs bytes.Buffer
	opts := Options{SegmentSize: seg, Logger: logTo(&logs)}
	e, _ := newEngine(t, dir, opts)
	e.create(sample(1))
	e.create(sample(2))
	e.close()
	segs := segmentFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one: the spare taken up", segs)
	}
	if fi, err := os.Stat(segs[0]); err != nil || fi.Size() != seg {
		t.Fatalf("segment %s: %v, %v; want the spare's %d bytes", segs[0], fi, err, seg)
	}

	// Reopened, the log writes on after its last record, inside the zeros.
	e, got := newEngine(t, dir, opts)
	if d := cmp.Diff([]uint64{1, 2}, ids(got)); d != "" {
		t.Errorf("replayed (-want +got):\n%s", d)
	}
	e.create(sample(3))
	e.finish(1)
	e.close()
	_, got = newEngine(t, dir, opts)
	if d := cmp.Diff([]uint64{2, 3}, ids(got)); d != "" {
		t.Errorf("replayed after a second run (-want +got):\n%s", d)
	}
	if logs.Len() != 0 {
		t.Errorf("a zero-filled tail was logged as a fault:\n%s", logs.String())
	}
}

func TestTornTailInZeroFilledSegmentIsCut(t *testing.T) {
	const seg = 1 << 20
	dir := t.TempDir()
	withSpare(t, dir, seg)
	var logs bytes.Buffer
	opts := Options{SegmentSize: seg, Logger: logTo(&logs)}
	e, _ := newEngine(t, dir, opts)
	e.create(sample(1))
	e.create(sample(2))
	e.close()
	path := segmentFiles(t, dir)[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Where the next record would go: after the header and both jobs.
	end := 0
	for {
		_, size, ok := parseFrame(b[end:])
		if !ok {
			break
		}
		end += size
	}
	// A record cut short by a crash, followed by the zeros it did not reach
	// (its payload is not zeros, or the cut record would be whole).
	rec := appendCreate(nil, &store.Job{ID: 3, Func: "f", Data: bytes.Repeat([]byte("x"), 100)}, 99)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(rec[:len(rec)-10], int64(end))
	f.Close()

	e, got := newEngine(t, dir, opts)
	if d := cmp.Diff([]uint64{1, 2}, ids(got)); d != "" {
		t.Errorf("replayed (-want +got):\n%s", d)
	}
	if !bytes.Contains(logs.Bytes(), []byte("torn record")) {
		t.Errorf("the torn record was not logged; log:\n%s", logs.String())
	}
	e.create(sample(4))
	e.close()
	_, got = newEngine(t, dir, opts)
	if d := cmp.Diff([]uint64{1, 2, 4}, ids(got)); d != "" {
		t.Errorf("replayed after writing on past the cut (-want +got):\n%s", d)
	}
}

func TestDamageBeforeZeroFilledTailStopsTheOpen(t *testing.T) {
	const seg = 1 << 20
	dir := t.TempDir()
	withSpare(t, dir, seg)
	e, _ := newEngine(t, dir, Options{SegmentSize: seg})
	for id := uint64(1); id <= 3; id++ {
		e.create(sample(id))
	}
	e.close()
	path := segmentFiles(t, dir)[0]
	b, _ := os.ReadFile(path)
	_, hdr, _ := parseFrame(b)
	_, size1, _ := parseFrame(b[hdr:])
	off2 := hdr + size1
	b[off2+frameHeader+5] ^= 0x40 // job 2's record, with job 3's after it
	os.WriteFile(path, b, 0o644)

	_, err := Open(dir, Options{SegmentSize: seg})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Offset != int64(off2) {
		t.Fatalf("Open = %v, want a CorruptError for %s at %d", err, path, off2)
	}
}

func TestSpareTakenUpWithoutHeader(t *testing.T) {
	// A crash just after the spare became segment 2, before its header
	// was written: segment 2 is all zeros.
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{noSpare: true})
	e.create(sample(1))
	e.close()
	zeroSeg := segPath(dir, 2)
	if err := os.WriteFile(zeroSeg, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	e, got := newEngine(t, dir, Options{noSpare: true})
	if d := cmp.Diff([]uint64{1}, ids(got)); d != "" {
		t.Errorf("replayed (-want +got):\n%s", d)
	}
	e.create(sample(2))
	e.close()
	b, err := os.ReadFile(zeroSeg)
	if err != nil {
		t.Fatal(err)
	}
	body, _, ok := parseFrame(b)
	if !ok || body[0] != kindHeader {
		t.Fatalf("segment 2 starts % x, want a header record", b[:16])
	}
	_, got = newEngine(t, dir, Options{noSpare: true})
	if d := cmp.Diff([]uint64{1, 2}, ids(got)); d != "" {
		t.Errorf("replayed (-want +got):\n%s", d)
	}
}
