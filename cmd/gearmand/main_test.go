package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

// TestMain runs the tests under goleak.VerifyTestMain (peertest.RunMain),
// then removes the binary that build made.
func TestMain(m *testing.M) { peertest.RunMain(pgtest.Main(m)) }

// TestStartLine: the server logs one line at start, at the default level,
// with the address it bound (the port chosen for -p 0), TLS and where jobs
// are kept; a job and a stop add nothing at the default level.
func TestStartLine(t *testing.T) {
	c := start(t)
	w := dial(t, c.addr, nil)
	w.Register("echo", gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) { return p, nil }), nil)
	if res, err := w.Do(testCtx(t), gearman.Job{Func: "echo", Data: []byte("hi")}); err != nil || string(res) != "hi" {
		t.Fatalf("Do = %q, %v", res, err)
	}
	c.cmd.Process.Signal(os.Interrupt)
	c.wait(t)
	lines := strings.Split(strings.TrimSuffix(c.stderr.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1:\n%s", len(lines), c.stderr)
	}
	want := regexp.MustCompile(`^time=\S+ level=INFO msg=serving addr=127\.0\.0\.1:[1-9][0-9]* tls=false store="in memory"$`)
	if !want.MatchString(lines[0]) {
		t.Errorf("start line %q does not match %s", lines[0], want)
	}
	if _, port, _ := net.SplitHostPort(c.addr); port == "0" {
		t.Errorf("start line shows port 0, not the one bound")
	}
}

// TestStartLineLogFile: the start line goes where --log-file says, once at
// any --verbose level, and not at all with "none".
func TestStartLineLogFile(t *testing.T) {
	bin := build(t)
	for _, verbose := range []string{"FATAL", "INFO", "DEBUG"} {
		t.Run(verbose, func(t *testing.T) {
			logf := filepath.Join(t.TempDir(), "gearmand.log")
			c := startArgs(t, bin, "-p", "0", "-l", logf, "--verbose", verbose)
			var log []byte
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !servingLine.Match(log); time.Sleep(10 * time.Millisecond) {
				log, _ = os.ReadFile(logf)
			}
			c.cmd.Process.Signal(os.Interrupt)
			c.wait(t)
			log, _ = os.ReadFile(logf)
			if n := len(servingLine.FindAll(log, -1)); n != 1 {
				t.Errorf("%d start lines in the log file, want 1:\n%s", n, log)
			}
			if c.stderr.String() != "" {
				t.Errorf("stderr: %s", c.stderr)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		port := strconv.Itoa(peertest.FreePort(t))
		c := startArgs(t, bin, "-p", port, "-l", "none")
		if !ready(net.JoinHostPort("127.0.0.1", port), c.done) {
			t.Fatal("gearmand did not start")
		}
		c.cmd.Process.Signal(os.Interrupt)
		c.wait(t)
		if c.stderr.String() != "" || c.stdout.String() != "" {
			t.Errorf("output with --log-file none: %q %q", c.stdout, c.stderr)
		}
	})
}
