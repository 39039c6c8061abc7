package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

// TestMain runs the tests under goleak.VerifyTestMain (peertest.RunMain),
// then removes the binary that build made.
func TestMain(m *testing.M) { peertest.RunMain(pgtest.Main(m)) }

// build builds the command once and returns its path.
func build(t *testing.T) string { return peertest.Command(t, "gearmand") }

// child is one cmd/gearmand process that a test started.
type child struct {
	addr   string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stdout *syncBuffer
	stderr *syncBuffer
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs cmd/gearmand on a free loopback port with args, learns the
// port from the line it logs at start, waits until it answers, and stops it
// (SIGKILL) at the test's end if it still runs.
func start(t *testing.T, args ...string) *child {
	t.Helper()
	c := startArgs(t, build(t), append([]string{"-L", "127.0.0.1", "-p", "0"}, args...)...)
	c.addr = c.servedAddr(t)
	if !ready(c.addr, c.done) {
		t.Fatalf("gearmand did not start on %s: %s", c.addr, c.stderr)
	}
	return c
}

// servedAddr waits for the line logged at start and returns its address.
func (c *child) servedAddr(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(c.stderr.String(), "\n") {
			if m := servingLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		}
		if c.exited() {
			break
		}
	}
	t.Fatalf("no \"serving\" line logged at start; stderr: %s", c.stderr)
	return ""
}

// servingLine matches the line logged at start, and holds its address.
var servingLine = regexp.MustCompile(`level=INFO msg=serving addr=(\S+) `)

// startArgs starts bin with exactly args and kills it at the test's end.
func startArgs(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), done: make(chan struct{}), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// ready waits until a server at addr answers the admin "version" command.
func ready(addr string, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("version\r\n"))
		n, _ := c.Read(make([]byte, 64))
		c.Close()
		if n > 0 {
			return true
		}
	}
	return false
}

// wait waits for the process to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("gearmand still runs; stderr: %s", c.stderr)
	}
	return c.cmd.ProcessState.ExitCode()
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waitRefused waits until addr refuses connections (the server closed its
// listener), or the process exits.
func (c *child) waitRefused(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		nc, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err != nil || c.exited() {
			return
		}
		nc.Close()
	}
	t.Fatalf("%s still accepts connections", c.addr)
}

// holdWorker registers fn on addr with a handler that tells started when it
// has a job and returns "done" once release is closed.
func holdWorker(t *testing.T, addr, fn string, started chan<- struct{}, release <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := gearman.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	err = w.Register(fn, gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		started <- struct{}{}
		<-release
		return append([]byte("done "), p...), nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestStartLine: the server logs one line at start, at the default level,
// with the address it bound (the port chosen for -p 0), TLS and where jobs
// are kept; a job and a stop add nothing at the default level.
func TestStartLine(t *testing.T) {
	c := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := gearman.Dial(ctx, c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Register("echo", gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) { return p, nil }), nil)
	if res, err := w.Do(ctx, gearman.Job{Func: "echo", Data: []byte("hi")}); err != nil || string(res) != "hi" {
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
