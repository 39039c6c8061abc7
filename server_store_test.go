package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// storeServer starts a server on the embedded store in dir.
func storeServer(t *testing.T, dir string, s *gearman.Server) (*gearman.Server, string) {
	t.Helper()
	st, err := gearman.OpenStore(t.Context(), "file:"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		s = &gearman.Server{}
	}
	s.Store = st
	return s, srvStart(t, s)
}

func TestStoreKeepsBackgroundJobsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	s, addr := storeServer(t, dir, nil)
	c := wiretest.Dial(t, addr)
	binary := "a\x00b\x00\xff"
	later := fmt.Sprint(time.Now().Add(time.Hour).Unix())
	submits := []struct {
		t    wire.Type
		args []string
	}{
		{wire.SubmitJobBg, []string{"f", "u1", binary}},
		{wire.SubmitJobHighBg, []string{"f", "", "high"}},
		{wire.SubmitJobLowBg, []string{"f", "-", "low"}},
		{wire.SubmitJobEpoch, []string{"f", "u4", later, "epoch"}},
		{wire.SubmitJobSched, []string{"f", "u5", "*/5", "", "", "", "", "sched"}},
		{wire.SubmitReduceJobBackground, []string{"f", "u6", "red", "", "reduce"}},
		{wire.SubmitJobBg, []string{"f", "", "normal"}},
		{wire.SubmitJob, []string{"f", "fg", "foreground"}}, // not stored
	}
	var handles []string
	for _, sub := range submits {
		c.Send(sub.t, sub.args...)
		handles = append(handles, c.ExpectType(wire.JobCreated).Args[0])
	}
	s.Close()

	_, addr = storeServer(t, dir, &gearman.Server{HandlePrefix: "H:test"})
	c = wiretest.Dial(t, addr)
	// Handles answer as before; coalescing goes on.
	c.Send(wire.GetStatus, handles[0])
	c.Expect(wire.StatusRes, handles[0], "1", "0", "0", "0")
	c.Send(wire.GetStatus, handles[7])
	c.Expect(wire.StatusRes, handles[7], "0", "0", "0", "0")
	c.Send(wire.SubmitJobBg, "f", "u1", "again")
	c.Expect(wire.JobCreated, handles[0])
	if got := c.Admin("status", true); got != "f\t7\t0\t0\n.\n" {
		t.Errorf("status after the restart = %q; want the 7 background jobs of f, none running", got)
	}
	// The queue order holds: high first, then normal and reduce in submit
	// order, then low; the epoch and scheduled jobs wait for their time.
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	for _, want := range []struct{ h, unique, data string }{
		{handles[1], "", "high"},
		{handles[0], "u1", binary},
		{handles[5], "u6", "reduce"},
		{handles[6], "", "normal"},
		{handles[2], "-", "low"},
	} {
		w.Send(wire.GrabJobUniq)
		w.Expect(wire.JobAssignUniq, want.h, "f", want.unique, want.data)
		w.Send(wire.WorkComplete, want.h, "")
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	if got := c.Admin("cancel job "+handles[3], false); got != "OK\r\n" {
		t.Errorf("cancel job of the epoch job after the restart = %q", got)
	}
}

func TestStoreForgetsFinishedJobs(t *testing.T) {
	dir := t.TempDir()
	s, addr := storeServer(t, dir, nil)
	c := wiretest.Dial(t, addr)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	for i := range 3 {
		c.Send(wire.SubmitJobBg, "f", "", fmt.Sprint(i))
		h := c.ExpectType(wire.JobCreated).Args[0]
		w.Send(wire.GrabJob)
		w.Expect(wire.JobAssign, h, "f", fmt.Sprint(i))
		if i < 2 {
			w.Send(wire.WorkComplete, h, "")
		} else {
			w.Send(wire.WorkFail, h)
		}
	}
	w.Sync()
	s.Close()
	_, addr = storeServer(t, dir, &gearman.Server{HandlePrefix: "H:test"})
	if got := wiretest.Dial(t, addr).Admin("status", true); got != "f\t0\t0\t0\n.\n" && got != ".\n" {
		t.Errorf("status after the restart = %q; want no jobs", got)
	}
}

func TestStoreCountsRetriesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	var handle string
	for attempt := 1; attempt <= 3; attempt++ {
		s, addr := storeServer(t, dir, &gearman.Server{HandlePrefix: "H:test", JobRetries: 2})
		if attempt == 1 {
			c := wiretest.Dial(t, addr)
			c.Send(wire.SubmitJobBg, "f", "", "p")
			handle = c.ExpectType(wire.JobCreated).Args[0]
		}
		w := wiretest.Dial(t, addr)
		w.Send(wire.CanDo, "f")
		w.Send(wire.GrabJob)
		if attempt == 3 {
			// Two attempts were lost with their server: the job is gone.
			w.Expect(wire.NoJob)
			break
		}
		w.Expect(wire.JobAssign, handle, "f", "p")
		s.Close() // the worker's attempt is lost with the server
	}
}

func TestStoreIsLockedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	storeServer(t, dir, nil)
	_, err := gearman.OpenStore(context.Background(), "file:"+dir, nil)
	if !errors.Is(err, gearman.ErrStoreLocked) {
		t.Fatalf("OpenStore of a store in use = %v; want ErrStoreLocked", err)
	}
	if _, err := gearman.OpenStore(context.Background(), "redis://x", nil); err == nil || !strings.Contains(err.Error(), "redis://x") {
		t.Errorf("OpenStore of an unknown kind = %v; want an error naming it", err)
	}
}

func TestStoreDamageIsReportedWithItsPlace(t *testing.T) {
	dir := t.TempDir()
	s, addr := storeServer(t, dir, nil)
	c := wiretest.Dial(t, addr)
	for _, p := range []string{"first payload", "second payload"} {
		c.Send(wire.SubmitJobBg, "f", "", p)
		c.ExpectType(wire.JobCreated)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	damaged := ""
	for _, path := range segs {
		b, _ := os.ReadFile(path)
		if at := bytes.Index(b, []byte("first payload")); at >= 0 {
			b[at] ^= 1
			os.WriteFile(path, b, 0o644)
			damaged = path
		}
	}
	_, err := gearman.OpenStore(t.Context(), "file:"+dir, nil)
	var ce *gearman.StoreCorruptError
	if !errors.As(err, &ce) || ce.File != damaged || ce.Offset <= 0 {
		t.Fatalf("OpenStore of a damaged store = %v; want a *StoreCorruptError naming %s and an offset", err, damaged)
	}
	st, err := gearman.OpenStore(t.Context(), "file:"+dir, &gearman.StoreOptions{Salvage: true})
	if err != nil {
		t.Fatalf("OpenStore with Salvage = %v", err)
	}
	addr = srvStart(t, &gearman.Server{Store: st})
	if got := wiretest.Dial(t, addr).Admin("status", true); got != "f\t1\t0\t0\n.\n" {
		t.Errorf("status of the salvaged store = %q; want the second job alone", got)
	}
}

// Finished jobs' space is reclaimed while the server runs: after 2,000
// jobs have come and gone through 64 KiB segments, the store holds a few
// segments, and the jobs still queued were moved ahead with their handles
// and queue order.
func TestStoreReclaimsSpaceWhileRunning(t *testing.T) {
	const seg = 64 << 10
	dir := t.TempDir()
	st, err := gearman.OpenStore(t.Context(), "file:"+dir, &gearman.StoreOptions{SegmentSize: seg})
	if err != nil {
		t.Fatal(err)
	}
	s := &gearman.Server{Store: st}
	addr := srvStart(t, s)
	c := wiretest.Dial(t, addr)
	var kept []string
	for _, u := range []string{"k1", "k2", "k3"} {
		c.Send(wire.SubmitJobBg, "keep", u, "kept "+u)
		kept = append(kept, c.ExpectType(wire.JobCreated).Args[0])
	}
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	payload := strings.Repeat("x", 200)
	for round := range 20 {
		var hs []string
		for i := range 100 {
			c.Send(wire.SubmitJobBg, "f", fmt.Sprint(round, "-", i), payload)
			hs = append(hs, c.ExpectType(wire.JobCreated).Args[0])
		}
		for _, h := range hs {
			w.Send(wire.GrabJob)
			w.Expect(wire.JobAssign, h, "f", payload)
			w.Send(wire.WorkComplete, h, "")
		}
	}
	w.Sync()
	c.Send(wire.SubmitJobBg, "keep", "k4", "kept k4") // its JOB_CREATED: every end before it is written
	kept = append(kept, c.ExpectType(wire.JobCreated).Args[0])
	s.Close()

	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var total int64
	for _, p := range segs {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	// 2,000 records of ~250 bytes and their ends were written: ~8 segments.
	if len(segs) > 4 || total > 4*seg {
		t.Errorf("the store holds %d segments, %d bytes, after 2,000 finished jobs; want at most 4 segments", len(segs), total)
	}
	_, addr = storeServer(t, dir, &gearman.Server{HandlePrefix: "H:test"})
	if got := wiretest.Dial(t, addr).Admin("status", true); got != "keep\t4\t0\t0\nf\t0\t0\t0\n.\n" && got != "keep\t4\t0\t0\n.\n" {
		t.Errorf("status after the restart = %q; want the 4 kept jobs alone", got)
	}
	w = wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "keep")
	for i, h := range kept {
		u := fmt.Sprint("k", i+1)
		w.Send(wire.GrabJobUniq)
		w.Expect(wire.JobAssignUniq, h, "keep", u, "kept "+u)
	}
}
