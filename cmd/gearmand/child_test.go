package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// This file holds the helpers of the command's tests: processes of
// cmd/gearmand started and stopped by the test, and the clients, workers
// and admin connections that talk to them.

// build builds the command once and returns its path.
func build(t *testing.T) string { return peertest.Command(t, "gearmand") }

// child is one process that a test started: cmd/gearmand, or a command
// line that runs it (such as under strace).
type child struct {
	addr   string // where it serves, once known (start)
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stdout *peertest.SyncBuffer
	stderr *peertest.SyncBuffer
}

// start runs cmd/gearmand on a free loopback port with args, learns the
// port from the line it logs at start, waits until it answers, and kills
// it at the test's end if it still runs.
func start(t *testing.T, args ...string) *child {
	t.Helper()
	return startUnder(t, nil, args...)
}

// startUnder is start with cmd/gearmand run by the command line wrapper
// (such as strace and its options; nil for none).
func startUnder(t *testing.T, wrapper []string, args ...string) *child {
	t.Helper()
	line := append(append(append([]string(nil), wrapper...), build(t), "-L", "127.0.0.1", "-p", "0"), args...)
	c := startArgs(t, line[0], line[1:]...)
	c.addr = c.servedAddr(t)
	if !ready(c.addr, c.done) {
		t.Fatalf("gearmand %q did not start on %s: %s", args, c.addr, c.stderr)
	}
	return c
}

// startArgs starts the command name with exactly args, in a process group
// of its own, and kills the group at the test's end (see kill).
func startArgs(t *testing.T, name string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(name, args...), done: make(chan struct{}), stdout: &peertest.SyncBuffer{}, stderr: &peertest.SyncBuffer{}}
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill takes strace's tracee too
	c.cmd.WaitDelay = 5 * time.Second                       // a tracee left holding the output pipes
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.kill)
	return c
}

// kill ends the process and its process group with SIGKILL, as a crash
// would, and waits for it.
func (c *child) kill() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
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

// result is what one run of the command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCmd runs the command with args to its end and returns its output.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, build(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %q: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// testCtx returns a context for one test's calls, cancelled at its end.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a client (or worker) to addr, closed at the test's end.
func dial(t *testing.T, addr string, opts *gearman.Options) *gearman.Conn {
	t.Helper()
	c, err := gearman.Dial(testCtx(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialAdmin connects an admin client to addr, closed at the test's end.
func dialAdmin(t *testing.T, addr string) *gearman.AdminClient {
	t.Helper()
	a, err := gearman.DialAdmin(testCtx(t), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// adminShutdown returns a stop that sends the admin command "shutdown"
// ("shutdown graceful" when graceful is set), for a server started with
// --enable-shutdown.
func adminShutdown(graceful bool) func(t *testing.T, c *child) {
	return func(t *testing.T, c *child) {
		if err := dialAdmin(t, c.addr).Shutdown(testCtx(t), graceful); err != nil {
			t.Fatal(err)
		}
	}
}

// holdWorker registers fn on addr with a handler that tells started when it
// has a job and returns "done " and the payload once release is closed.
func holdWorker(t *testing.T, addr, fn string, started chan<- struct{}, release <-chan struct{}) {
	t.Helper()
	err := dial(t, addr, nil).Register(fn, gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		started <- struct{}{}
		<-release
		return append([]byte("done "), p...), nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
}

// heldJob submits a job with payload data to a worker of c that holds it
// until release is closed, and returns once the worker has it.
func heldJob(t *testing.T, c *child, data string, release <-chan struct{}) *gearman.Task {
	t.Helper()
	started := make(chan struct{}, 1)
	holdWorker(t, c.addr, "hold", started, release)
	task, err := dial(t, c.addr, nil).Submit(testCtx(t), gearman.Job{Func: "hold", Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	return task
}

// mustRead returns the contents of a file.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
