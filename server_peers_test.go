package gearman_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestServerPeerCLIWorkerAndClient(t *testing.T) {
	gm := peertest.Require(t, "gearman")
	addr := srvStart(t, &gearman.Server{})
	h, p := peertest.HostPort(t, addr)
	out := peertest.Start(t, gm, "-h", h, "-p", p, "-w", "-f", "reverse", "--", "rev")
	a := wiretest.Dial(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.Admin("status", true), "reverse\t0\t0\t1") {
		if time.Now().After(deadline) {
			t.Fatalf("the CLI worker did not register: %s", out())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, args := range [][]string{
		{"-f", "reverse", "hello world"},
		{"-f", "reverse", "-u", "uniq1", "unique job"},
		{"-f", "reverse", "-I", "high priority"},
		{"-f", "reverse", "-L", "low priority"},
	} {
		data := args[len(args)-1]
		got := peertest.Run(t, nil, 10*time.Second, gm, append([]string{"-h", h, "-p", p}, args...)...)
		want := []rune(data)
		slices.Reverse(want)
		if strings.TrimSpace(string(got)) != string(want) {
			t.Errorf("gearman %v = %q; want %q (worker: %s)", args, got, string(want), out())
		}
	}
	// A background job runs too.
	peertest.Run(t, nil, 10*time.Second, gm, "-h", h, "-p", p, "-b", "-f", "reverse", "bg")
	deadline = time.Now().Add(5 * time.Second)
	for a.Admin("status", true) != "reverse\t0\t0\t1\n.\n" {
		if time.Now().After(deadline) {
			t.Fatalf("background job did not run: %q", a.Admin("status", true))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerPeerGearadmin runs every gearadmin option against our server and
// against the C gearmand, both in the same state, and compares the output.
func TestServerPeerGearadmin(t *testing.T) {
	ga := peertest.Require(t, "gearadmin")
	ref := peertest.Gearmand(t)
	host, _ := os.Hostname()
	ours := srvStart(t, &gearman.Server{
		HandlePrefix: "H:" + host,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	setup := func(addr string) []*wiretest.Peer {
		w := wiretest.Dial(t, addr)
		w.Send(wire.SetClientID, "w1")
		w.Send(wire.CanDo, "alpha")
		w.Send(wire.CanDo, "beta")
		c := wiretest.Dial(t, addr)
		c.Send(wire.SubmitJobBg, "alpha", "ua1", "x")
		c.ExpectType(wire.JobCreated)
		c.Send(wire.SubmitJobHighBg, "alpha", "ua2", "x")
		c.ExpectType(wire.JobCreated)
		c.Send(wire.SubmitJobLowBg, "gamma", "ug1", "x")
		c.ExpectType(wire.JobCreated)
		c.Send(wire.SubmitJob, "gamma", "ug2", "x")
		c.ExpectType(wire.JobCreated)
		w.Send(wire.GrabJobUniq)
		w.ExpectType(wire.JobAssignUniq)
		w.Sync()
		return []*wiretest.Peer{w, c}
	}
	setup(ref)
	setup(ours)
	fd := regexp.MustCompile(`(?m)^\d+ `)
	run := func(addr string, args ...string) string {
		h, p := peertest.HostPort(t, addr)
		out, err := peertest.RunErr(nil, 10*time.Second, ga, append([]string{"-h", h, "-p", p}, args...)...)
		if err != nil {
			return "error: " + err.Error()
		}
		lines := strings.Split(fd.ReplaceAllString(string(out), "FD "), "\n")
		slices.Sort(lines) // gearmand lists in hash-table order
		return strings.Join(lines, "\n")
	}
	for _, args := range [][]string{
		{"--status"}, {"--priority-status"}, {"--workers"}, {"--show-jobs"}, {"--show-unique-jobs"},
		{"--server-verbose"},
		{"--create-function", "delta"}, {"--status"},
		{"--drop-function", "delta"}, {"--drop-function", "alpha"}, {"--drop-function", "nosuch"},
		{"--cancel-job", "H:" + host + ":3"}, {"--cancel-job", "H:" + host + ":99"},
	} {
		want, got := run(ref, args...), run(ours, args...)
		if got != want {
			t.Errorf("gearadmin %v:\nours:     %q\ngearmand: %q", args, got, want)
		}
	}
	// Deliberate difference: gearmand keeps a cancelled queued job, marked
	// ignore=1 and counted in status, until a worker's grab clears it; ours
	// removes it at once.
	if got, want := run(ours, "--show-jobs"), "\n.\nH:"+host+":1\t0\t0\t1\nH:"+host+":2\t0\t0\t1\nH:"+host+":4\t0\t0\t0"; got != want {
		t.Errorf("--show-jobs after cancel = %q; want %q", got, want)
	}
	if got, want := run(ours, "--status"), "\n.\nalpha\t2\t1\t1\nbeta\t0\t0\t1\ngamma\t1\t0\t0"; got != want {
		t.Errorf("--status after cancel = %q; want %q", got, want)
	}
	// Version and pid differ by nature: check their shape.
	if got := run(ours, "--server-version"); strings.TrimSpace(got) != "1.1.20-gogearman" {
		t.Errorf("--server-version = %q", got)
	}
	if got := run(ours, "--getpid"); strings.TrimSpace(got) != strconv.Itoa(os.Getpid()) {
		t.Errorf("--getpid = %q", got)
	}
}

// TestServerInteropMatrix runs ../shared/peers/interop-matrix.sh against
// cmd/gearmand: every worker peer with every client peer must pass.
func TestServerInteropMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the interop matrix takes a minute or two")
	}
	script := filepath.Join(peertest.SharedDir(t), "peers", "interop-matrix.sh")
	if _, err := os.Stat(script); err != nil {
		peertest.Missing(t, script+" is missing")
	}
	for _, tool := range []string{"gearman", "php", "perl", "node"} {
		peertest.Require(t, tool)
	}
	bin := filepath.Join(t.TempDir(), "gearmand")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/gearmand").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := peertest.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "cmd", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "SERVER_CMD="+bin+" -L 127.0.0.1 -p {port}", "RUN_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("interop-matrix.sh: %v", err)
	}
	if !strings.Contains(string(out), "\n49 passed, 0 failed") {
		t.Errorf("want 49 passed, 0 failed")
	}
}
