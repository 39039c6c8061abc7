package filestore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman/internal/store"
)

// fail records j's newest state after a failure, as the engine does.
func (e *engine) fail(j store.Job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ej := e.jobs[j.ID]
	ej.running = false
	ej.job = j
	ej.ref = e.l.Failed(ej.ref, j)
}

// TestFailuresAndDeadLettersReplay: a job waiting for its retry, a dead
// letter (whose attempt was running: not a lost one), a dead letter
// queued again and a purged one come back from a restart as they were
// left, with their failures.
func TestFailuresAndDeadLettersReplay(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir, Options{})
	for id := uint64(1); id <= 4; id++ {
		e.create(sample(id))
	}
	retry := sample(1)
	retry.Failures, retry.Error, retry.FirstFailed, retry.LastFailed, retry.When = 1, "boom", 100, 100, 1<<40
	e.assign(1)
	e.fail(retry)
	dead := sample(2)
	dead.Failures, dead.Error, dead.FirstFailed, dead.LastFailed, dead.Dead = 3, "WORK_FAIL", 100, 300, true
	e.assign(2)
	e.fail(dead)
	revived := sample(3)
	revived.Failures, revived.Error, revived.FirstFailed, revived.LastFailed, revived.Dead = 1, "x\x00y", 5, 5, true
	e.fail(revived)
	revived.Dead, revived.Failures = false, 0
	e.fail(revived)
	purged := sample(4)
	purged.Failures, purged.Dead = 1, true
	e.fail(purged)
	e.finish(4)
	e.close()

	_, got := newEngine(t, dir, Options{})
	want := []store.Job{retry, dead, revived} // each at the tail when it failed
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("replayed jobs (-want +got):\n%s", d)
	}
}

// TestFailedRecordsAreCompacted: a job's superseded records (one per
// failure) are not counted live, so compaction reclaims them.
func TestFailedRecordsAreCompacted(t *testing.T) {
	dir := t.TempDir()
	const seg = 32 << 10
	e, _ := newEngine(t, dir, Options{SegmentSize: seg})
	for id := uint64(1); id <= 10; id++ {
		j := sample(id)
		j.Data = make([]byte, 100)
		e.create(j)
	}
	for round := int32(1); round <= 300; round++ {
		for id := uint64(1); id <= 10; id++ {
			j := e.jobs[id].job
			j.Failures, j.Error, j.Dead = round, "again", round == 300
			e.fail(j)
		}
		e.create(store.Job{ID: 10000 + uint64(round), Func: "sync"}) // a write and a compaction
		e.finish(10000 + uint64(round))
	}
	e.close()
	var total int64
	for _, p := range segmentFiles(t, dir) {
		st, _ := os.Stat(p)
		total += st.Size()
	}
	// 3000 records of ~150 bytes were written (450 KB).
	if total > 4*seg {
		t.Errorf("segments hold %d bytes after compaction, want at most %d", total, 4*seg)
	}
	_, got := newEngine(t, dir, Options{SegmentSize: seg})
	if len(got) != 10 {
		t.Fatalf("replayed %d jobs, want 10", len(got))
	}
	for _, j := range got {
		if j.Failures != 300 || !j.Dead || j.Error != "again" {
			t.Errorf("job %d replayed as %+v", j.ID, j)
		}
	}
}

// TestVersion1StoreOpens: a store written before version 2 (headers of
// version 1, no kindFailed) opens and replays.
func TestVersion1StoreOpens(t *testing.T) {
	dir := t.TempDir()
	j := sample(3)
	var b []byte
	b = appendFrame(b, func(b []byte) []byte { return appendUvarints(append(b, kindHeader, 1), 1, 0, 0) })
	b = appendCreate(b, &j, 1)
	if err := os.WriteFile(filepath.Join(dir, segName(1)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, got := newEngine(t, dir, Options{})
	if d := cmp.Diff([]store.Job{j}, got); d != "" {
		t.Errorf("replayed jobs (-want +got):\n%s", d)
	}
}
