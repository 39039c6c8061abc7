package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// TestMain runs the tests under goleak.VerifyTestMain (peertest.RunMain),
// then removes the binary that build made.
func TestMain(m *testing.M) { peertest.RunMain(m) }

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

// start runs cmd/gearmand on a free loopback port with args, waits until it
// answers, and stops it (SIGKILL) at the test's end if it still runs.
func start(t *testing.T, args ...string) *child {
	t.Helper()
	bin := build(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(peertest.FreePort(t)))
	host, port, _ := net.SplitHostPort(addr)
	c := startArgs(t, bin, append([]string{"-L", host, "-p", port}, args...)...)
	c.addr = addr
	if !ready(addr, c.done) {
		t.Fatalf("gearmand did not start on %s: %s", addr, c.stderr)
	}
	return c
}

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
