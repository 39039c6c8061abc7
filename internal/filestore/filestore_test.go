package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman/internal/store"
)

// engine is the store's side of a job server, as far as its contract
// goes: it keeps the live jobs and their refs, and relogs on request.
type engine struct {
	t    *testing.T
	mu   sync.Mutex
	l    *Log
	jobs map[uint64]*ejob
}

type ejob struct {
	job     store.Job
	ref     store.Ref
	running bool
}

func newEngine(t *testing.T, dir string, opts Options) (*engine, []store.Job) {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{t: t, l: l, jobs: make(map[uint64]*ejob)}
	var got []store.Job
	l.Replay(func(j *store.Job, ref store.Ref) {
		got = append(got, *j)
		e.jobs[j.ID] = &ejob{job: *j, ref: ref}
	})
	l.Start(e)
	t.Cleanup(func() { e.close() })
	return e, got
}

func (e *engine) close() {
	if err := e.l.Close(context.Background()); err != nil {
		e.t.Error(err)
	}
}

func (e *engine) Relog(seg uint32, ids []uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		j := e.jobs[id]
		if j == nil || j.ref.Seg != seg {
			continue
		}
		j.ref, _ = e.l.Created(j.job, j.ref.Seq)
		if j.running {
			e.l.Assigned(j.ref, id)
		}
	}
}

// create stores j and waits until it is durable.
func (e *engine) create(j store.Job) {
	e.t.Helper()
	e.mu.Lock()
	ref, c := e.l.Created(j, 0)
	e.jobs[j.ID] = &ejob{job: j, ref: ref}
	e.mu.Unlock()
	<-c.Done()
	if err := c.Err(); err != nil {
		e.t.Fatalf("job %d: %v", j.ID, err)
	}
}

func (e *engine) finish(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.l.Finished(e.jobs[id].ref, id)
	delete(e.jobs, id)
}

func (e *engine) assign(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.jobs[id].running = true
	e.l.Assigned(e.jobs[id].ref, id)
}

func (e *engine) requeue(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jobs[id]
	j.running = false
	j.job.Retries++
	j.ref = e.l.Requeued(j.ref, id, j.job.Retries)
}

func sample(id uint64) store.Job {
	return store.Job{ID: id, Func: "f", Unique: "u" + string(rune('a'+id%26)), Data: []byte{0, byte(id), 0xff}, Priority: int8(id % 3), Created: int64(id) * 1000}
}

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	e, got := newEngine(t, dir, Options{})
	if len(got) != 0 {
		t.Fatalf("a new store replayed %d jobs", len(got))
	}
	epoch := store.Job{ID: 7, Func: "later", Data: []byte("x"), Priority: 1, When: 1 << 40, Created: 5}
	sched := store.Job{ID: 9, Func: "cron", Unique: "every", Priority: 1, Schedule: "*/5 * * * *", Reducer: "r"}
	for _, j := range []store.Job{sample(1), sample(2), sample(3), epoch, sched, sample(11)} {
		e.create(j)
	}
	e.assign(1)  // running at the "crash": lost, retries + 1
	e.assign(2)  // requeued: to the tail, with its retries
	e.requeue(2) //
	e.finish(3)  // gone
	e.assign(11) // finished
	e.finish(11) //
	e.close()

	e2, got := newEngine(t, dir, Options{})
	_ = e2
	j1, j2 := sample(1), sample(2)
	j1.Retries, j1.Lost = 1, true
	j2.Retries = 1
	want := []store.Job{j1, epoch, sched, j2}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("replayed jobs (-want +got):\n%s", d)
	}
	if id := e2.l.maxID; id != 11 {
		t.Errorf("highest id = %d, want 11", id)
	}
}

// A job's full record written again (compaction's relog, before the old
// segment is deleted) is the one that counts: later records of the job
// apply to it, and a finish removes the job however many records it has.
func TestReplayTakesTheNewestFullRecord(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{noSpare: true})
	for id := uint64(1); id <= 4; id++ {
		e.create(sample(id))
	}
	relog := func(id uint64, retries int32) {
		e.mu.Lock()
		j := e.jobs[id]
		j.job.Retries = retries
		var c store.Commit
		j.ref, c = e.l.Created(j.job, j.ref.Seq)
		e.mu.Unlock()
		<-c.Done()
	}
	relog(2, 5)
	e.finish(2) // gone, with two full records in the log
	relog(1, 6)
	relog(1, 7)  // written twice again: the newest counts
	e.assign(1)  // lost at the restart: one more retry
	e.requeue(3) // its new place and retries apply to its only record
	relog(4, 8)
	e.create(sample(5))
	e.close()

	_, got := newEngine(t, dir, Options{noSpare: true})
	j1, j3, j4 := sample(1), sample(3), sample(4)
	j1.Retries, j1.Lost = 8, true
	j3.Retries = 1
	j4.Retries = 8
	want := []store.Job{j1, j4, j3, sample(5)} // 3 was requeued before 5 came
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("replayed jobs (-want +got):\n%s", d)
	}
}

// segmentFiles returns the paths of dir's segments.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	nums, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nums {
		out = append(out, segPath(dir, n))
	}
	return out
}

func TestTornTailIsCut(t *testing.T) {
	// Without a spare segment, so the last segment is one that grows.
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{noSpare: true})
	e.create(sample(1))
	e.create(sample(2))
	e.close()
	segs := segmentFiles(t, dir)
	last := segs[len(segs)-1]
	// A record cut short by a crash: its frame, without the end.
	rec := appendCreate(nil, &store.Job{ID: 3, Func: "f", Data: make([]byte, 100)}, 99)
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(rec[:len(rec)-10])
	f.Close()
	before, _ := os.Stat(last)

	var log bytes.Buffer
	_, got := newEngine(t, dir, Options{noSpare: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 {
		t.Fatalf("replayed %v, want jobs 1 and 2", got)
	}
	after, _ := os.Stat(last)
	if after.Size() != before.Size()-int64(len(rec)-10) {
		t.Errorf("segment is %d bytes after the open, want the torn record cut (%d)", after.Size(), before.Size()-int64(len(rec)-10))
	}
	want := fmt.Sprintf("level=WARN msg=\"store: cutting a torn record at the end of the log (a write the crash interrupted)\" file=%s offset=%d", last, after.Size())
	if !strings.Contains(log.String(), want) {
		t.Errorf("log %q; want the cut logged: %s", log.String(), want)
	}
}

func TestDamageStopsTheOpen(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{noSpare: true})
	for id := uint64(1); id <= 3; id++ {
		e.create(sample(id))
	}
	e.close()
	segs := segmentFiles(t, dir)
	path := segs[len(segs)-1]
	b, _ := os.ReadFile(path)
	// Damage job 2's record: the first byte of its payload.
	hdr, _, _ := parseFrame(b)
	off := frameHeader + len(hdr)
	_, size1, _ := parseFrame(b[off:])
	off2 := off + size1
	b[off2+frameHeader+5] ^= 0x40
	os.WriteFile(path, b, 0o644)

	_, err := Open(dir, Options{noSpare: true})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Offset != int64(off2) {
		t.Fatalf("Open = %v, want a CorruptError for %s at %d", err, path, off2)
	}
	_, got := newEngine(t, dir, Options{Salvage: true, noSpare: true})
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 {
		t.Fatalf("salvaged %v, want jobs 1 and 3", got)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	newEngine(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestCompactionBoundsTheFiles(t *testing.T) {
	dir := t.TempDir()
	const seg = 32 << 10
	e, _ := newEngine(t, dir, Options{SegmentSize: seg})
	keep := map[uint64]bool{5: true, 500: true, 4000: true}
	var last store.Commit
	for id := uint64(1); id <= 6000; id++ {
		j := sample(id)
		j.Data = make([]byte, 100)
		e.mu.Lock()
		ref, c := e.l.Created(j, 0)
		e.jobs[id] = &ejob{job: j, ref: ref}
		e.mu.Unlock()
		last = c
		if id == 4000 {
			e.assign(id)
		}
		if id%100 == 0 { // a batch of submits is durable: finish the one before
			<-last.Done()
			for old := id - 199; old <= id-100 && id > 100; old++ {
				if !keep[old] {
					e.finish(old)
				}
			}
		}
	}
	<-last.Done()
	for id := uint64(5901); id <= 6000; id++ {
		e.finish(id)
	}
	// Let the committer write the last records and compact.
	e.create(store.Job{ID: 6001, Func: "f"})
	e.finish(6001)
	e.create(store.Job{ID: 6002, Func: "f"})
	e.finish(6002)
	e.close()

	var total int64
	for _, p := range segmentFiles(t, dir) {
		st, _ := os.Stat(p)
		total += st.Size()
	}
	// 6000 records of ~150 bytes were written (900 KB); what is left must
	// be about the live jobs plus a few segments.
	if total > 4*seg {
		t.Errorf("segments hold %d bytes after compaction, want at most %d", total, 4*seg)
	}
	_, got := newEngine(t, dir, Options{SegmentSize: seg})
	var ids []uint64
	for _, j := range got {
		ids = append(ids, j.ID)
	}
	if d := cmp.Diff([]uint64{5, 500, 4000}, ids); d != "" {
		t.Errorf("replayed ids (-want +got):\n%s", d)
	}
	if len(got) == 3 && !got[2].Lost {
		t.Errorf("job 4000 was running: replayed without Lost")
	}
}

func TestClosedLogRefuses(t *testing.T) {
	e, _ := newEngine(t, t.TempDir(), Options{})
	e.close()
	_, c := e.l.Created(store.Job{ID: 1}, 0)
	<-c.Done()
	if !errors.Is(c.Err(), store.ErrClosed) {
		t.Fatalf("Created after Close: %v, want ErrClosed", c.Err())
	}
}

// Large payloads are written from the job's own buffer, between the
// batch's other records: they come back whole and in place.
func TestLargePayloadsReplay(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{})
	var want []store.Job
	for id := uint64(1); id <= 6; id++ {
		j := sample(id)
		if id%2 == 0 {
			j.Data = bytes.Repeat([]byte{byte(id), 0, 0xff}, largePayload/3+int(id)) // over the threshold
		}
		want = append(want, j)
	}
	// Queued together, so that one batch holds them all.
	var commits []store.Commit
	e.mu.Lock()
	for _, j := range want {
		ref, c := e.l.Created(j, 0)
		e.jobs[j.ID] = &ejob{job: j, ref: ref}
		commits = append(commits, c)
	}
	e.mu.Unlock()
	for _, c := range commits {
		<-c.Done()
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.create(sample(7)) // a record after them
	want = append(want, sample(7))
	e.close()
	_, got := newEngine(t, dir, Options{})
	if len(got) != len(want) {
		t.Fatalf("replayed %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("job %d: replayed %d bytes of payload, not the %d written", want[i].ID, len(got[i].Data), len(want[i].Data))
		}
		got[i].Data, want[i].Data = nil, nil
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("replayed (-want +got):\n%s", d)
	}
}
