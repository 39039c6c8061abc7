package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file tests how cmd/gearmand opens its store: the line it logs,
// a damaged store and --store-salvage, a store another server has open.

// exited waits for c to end by itself and returns its stderr; it fails the
// test if c goes on serving or ends with status 0.
func exited(t *testing.T, c *child) string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("gearmand still runs; stderr: %s", c.stderr)
	}
	if c.cmd.ProcessState.Success() {
		t.Fatalf("gearmand exited with status 0; stderr: %s", c.stderr)
	}
	return c.stderr.String()
}

// TestStartLineStore: the start line says where the jobs are kept.
func TestStartLineStore(t *testing.T) {
	dir := t.TempDir()
	c := startStored(t, dir)
	want := regexp.MustCompile(`level=INFO msg=serving addr=127\.0\.0\.1:[1-9][0-9]* tls=false store=` + regexp.QuoteMeta("file:"+dir) + `\n`)
	if !want.MatchString(c.stderr.String()) {
		t.Errorf("stderr %q has no start line matching %s", c.stderr, want)
	}
}

// damageRecord flips a byte of the payload the store in dir holds, and
// returns the segment file and the byte's offset.
func damageRecord(t *testing.T, dir, payload string) (string, int) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range segs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if at := bytes.Index(b, []byte(payload)); at >= 0 {
			b[at] ^= 0x20
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return path, at
		}
	}
	t.Fatalf("no segment of %s holds %q", dir, payload)
	return "", 0
}

// A damaged record before the end of the log stops the start, naming the
// file and the record's offset; --store-salvage starts anyway, without
// that record's job, and logs what it skipped.
func TestDamagedStoreRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	srv := startStored(t, dir)
	c := wiretest.Dial(t, srv.addr)
	handles := make(map[string]string)
	for i := range 3 {
		u := fmt.Sprint("u", i)
		c.Send(wire.SubmitJobBg, "f", u, "payload of "+u)
		handles[u] = c.ExpectType(wire.JobCreated).Args[0]
	}
	srv.kill()
	path, at := damageRecord(t, dir, "payload of u0")

	stderr := exited(t, startArgs(t, build(t), "-L", "127.0.0.1", "-p", "0", "--store", "file:"+dir))
	m := regexp.MustCompile(regexp.QuoteMeta(path) + ` at offset ([0-9]+)`).FindStringSubmatch(stderr)
	if m == nil || !strings.Contains(stderr, "salvage") {
		t.Fatalf("stderr %q does not name %s, an offset and the way to start anyway", stderr, path)
	}
	if off, _ := strconv.Atoi(m[1]); off > at || at-off > 100 {
		t.Errorf("the error names offset %d; the damaged byte is at %d, in the record of job u0", off, at)
	}

	srv = startStored(t, dir, "--store-salvage")
	ran := drain(t, srv.addr, "f")
	if len(ran) != 2 || len(ran["u1"]) != 1 || ran["u1"][0] != handles["u1"] || len(ran["u2"]) != 1 || ran["u2"][0] != handles["u2"] {
		t.Errorf("salvaged store ran %v; want u1 and u2 once each, with handles %v", ran, handles)
	}
	if !strings.Contains(srv.stderr.String(), "salvage") || !strings.Contains(srv.stderr.String(), path) {
		t.Errorf("the salvaging server logged nothing about the damage in %s: %s", path, srv.stderr)
	}
}

// A second server on a store directory in use refuses to start.
func TestSecondServerOnAStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	first := startStored(t, dir)
	stderr := exited(t, startArgs(t, build(t), "-L", "127.0.0.1", "-p", "0", "--store", "file:"+dir))
	if !strings.Contains(stderr, dir) || !strings.Contains(stderr, "in use") {
		t.Errorf("second server's stderr %q does not say that %s is in use", stderr, dir)
	}
	c := wiretest.Dial(t, first.addr)
	c.Send(wire.EchoReq, "still serving")
	c.Expect(wire.EchoRes, "still serving")
}
