//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulStop: after SIGUSR1, or the admin command "shutdown graceful",
// the job a worker holds still finishes, its client gets the result, and
// the process then exits 0. (It used to exit at once, and the client got
// EOF.)
func TestGracefulStop(t *testing.T) {
	tests := []struct {
		name string
		args []string
		stop func(t *testing.T, c *child)
	}{
		{"SIGUSR1", nil, func(t *testing.T, c *child) {
			if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
		}},
		{"shutdown graceful", []string{"--enable-shutdown"}, adminShutdown(true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := start(t, tt.args...)
			release := make(chan struct{})
			task := heldJob(t, c, "x", release)
			tt.stop(t, c)
			c.waitRefused(t) // the stop has begun
			close(release)
			res, err := task.Result(testCtx(t))
			if err != nil || string(res) != "done x" {
				t.Errorf("result = %q, %v; want \"done x\", nil", res, err)
			}
			if code := c.wait(t); code != 0 {
				t.Errorf("exit code %d, want 0; stderr: %s", code, c.stderr)
			}
		})
	}
}

// TestSecondSignalStopsAtOnce: a signal during a graceful stop stops the
// server without waiting for the running job.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	for _, second := range []os.Signal{syscall.SIGTERM, syscall.SIGUSR1} {
		t.Run(second.String(), func(t *testing.T) {
			c := start(t)
			release := make(chan struct{})
			defer close(release)
			task := heldJob(t, c, "", release)
			c.cmd.Process.Signal(syscall.SIGUSR1)
			c.waitRefused(t)
			c.cmd.Process.Signal(second)
			if code := c.wait(t); code != 0 {
				t.Errorf("exit code %d, want 0; stderr: %s", code, c.stderr)
			}
			if _, err := task.Result(testCtx(t)); err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Result after the server stopped = %v, want a lost connection", err)
			}
		})
	}
}

// TestStopNow: SIGTERM and SIGINT, as in gearmand, and the admin command
// "shutdown" stop the server at once, with exit code 0, without waiting
// for the running job.
func TestStopNow(t *testing.T) {
	signal := func(sig os.Signal) func(t *testing.T, c *child) {
		return func(t *testing.T, c *child) { c.cmd.Process.Signal(sig) }
	}
	tests := []struct {
		name string
		args []string
		stop func(t *testing.T, c *child)
	}{
		{"SIGTERM", nil, signal(syscall.SIGTERM)},
		{"SIGINT", nil, signal(syscall.SIGINT)},
		{"shutdown", []string{"--enable-shutdown"}, adminShutdown(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := start(t, tt.args...)
			release := make(chan struct{})
			defer close(release)
			task := heldJob(t, c, "", release)
			tt.stop(t, c)
			if code := c.wait(t); code != 0 {
				t.Errorf("exit code %d, want 0; stderr: %s", code, c.stderr)
			}
			if _, err := task.Result(testCtx(t)); err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Result after the server stopped = %v, want a lost connection", err)
			}
		})
	}
}

// TestHangup: SIGHUP reopens the log file by its name, as in gearmand (for
// logrotate), and leaves a server that logs to stderr running; it used to
// kill the process.
func TestHangup(t *testing.T) {
	t.Run("log file", func(t *testing.T) {
		dir := t.TempDir()
		logf := filepath.Join(dir, "gearmand.log")
		c := startArgs(t, build(t), "-L", "127.0.0.1", "-p", "0", "-l", logf, "--verbose", "INFO")
		var log []byte
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !servingLine.Match(log); time.Sleep(10 * time.Millisecond) {
			log, _ = os.ReadFile(logf)
		}
		if err := os.Rename(logf, logf+".1"); err != nil {
			t.Fatal(err)
		}
		c.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !bytes.Contains(log, []byte("msg=\"log file reopened\"")); time.Sleep(10 * time.Millisecond) {
			log, _ = os.ReadFile(logf)
		}
		if !bytes.Contains(log, []byte("msg=\"log file reopened\"")) {
			t.Fatalf("no \"log file reopened\" in the new log file %q; stderr: %s", log, c.stderr)
		}
		addr := servingLine.FindSubmatch(mustRead(t, logf+".1"))[1]
		if !ready(string(addr), c.done) {
			t.Fatalf("server gone after SIGHUP: %s", c.stderr)
		}
	})
	t.Run("stderr", func(t *testing.T) {
		c := start(t, "--verbose", "INFO")
		c.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(c.stderr.String(), "nothing to reopen"); time.Sleep(10 * time.Millisecond) {
		}
		if !ready(c.addr, c.done) || !strings.Contains(c.stderr.String(), "nothing to reopen") {
			t.Fatalf("server gone after SIGHUP: %s (exited %v)", c.stderr, c.exited())
		}
	})
}
