// Package peertest starts and drives the real Gearman peers installed by
// ../shared/peers/install.sh (the C gearmand, its gearman and gearadmin tools,
// and the others) for the tests of this module.
//
// A missing peer skips the test with a clear message, except under CI=true,
// where it fails it: CI installs every peer, so a missing one is a defect.
// Every process a helper starts is stopped by t.Cleanup.
package peertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GearmandPath is the C job server (the Perl server is /usr/bin/gearmand).
const GearmandPath = "/usr/sbin/gearmand"

// Require returns the path of the command name, or skips t when it is not
// installed (fails it under CI=true).
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, fmt.Sprintf("%s is not installed (run ../shared/peers/install.sh)", name))
	}
	return path
}

// Missing skips t with why, or fails it under CI=true.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("peer missing under CI: %s", why)
	}
	t.Skipf("peer missing: %s", why)
}

// SharedDir returns the ../shared directory beside the module root.
func SharedDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "no ../shared directory beside the module")
	}
	return dir
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Gearmand starts the C gearmand on a free loopback port with the extra
// arguments (such as "-t", "0" or "--job-retries", "2"), waits until it
// answers, and returns its address. t.Cleanup stops it.
func Gearmand(t testing.TB, args ...string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		err := startGearmand(t, addr, args)
		if err == nil {
			return addr
		}
		if attempt == 2 {
			t.Fatal(err)
		}
	}
}

// GearmandAt starts the C gearmand on addr (a loopback address that was in
// use before, to restart a server), as Gearmand does.
func GearmandAt(t testing.TB, addr string, args ...string) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = startGearmand(t, addr, args); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger
	}
	t.Fatal(err)
}

func startGearmand(t testing.TB, addr string, args []string) error {
	t.Helper()
	if _, err := os.Stat(GearmandPath); err != nil {
		Missing(t, GearmandPath+" is not installed (run ../shared/peers/install.sh)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	logf := filepath.Join(t.TempDir(), "gearmand.log")
	argv := append([]string{"-L", host, "-p", port, "-l", logf, "--verbose", "WARNING"}, args...)
	cmd := exec.Command(GearmandPath, argv...)
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gearmand: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	if !waitReady(addr, done) {
		stop()
		log, _ := os.ReadFile(logf)
		return fmt.Errorf("gearmand did not start on %s: %s %s", addr, out.String(), log)
	}
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	stoppers.mu.Lock()
	stoppers.m[addr] = stopOnce
	stoppers.mu.Unlock()
	t.Cleanup(func() {
		stopOnce()
		stoppers.mu.Lock()
		if stoppers.m[addr] != nil {
			delete(stoppers.m, addr)
		}
		stoppers.mu.Unlock()
	})
	return nil
}

var stoppers = struct {
	mu sync.Mutex
	m  map[string]func()
}{m: map[string]func(){}}

// waitReady waits until a server at addr answers the admin "version" command.
func waitReady(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			c.Write([]byte("version\r\n"))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Close()
			if n > 0 {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// HostPort splits addr into the -h and -p arguments of the C tools.
func HostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return h, p
}

// Run runs a command to completion with a time limit and returns its standard
// output; a non-zero exit fails t with the command's output.
func Run(t testing.TB, stdin []byte, timeout time.Duration, name string, args ...string) []byte {
	t.Helper()
	out, err := RunErr(stdin, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// RunErr runs a command to completion with a time limit and returns its
// standard output, or an error that carries its standard error.
func RunErr(stdin []byte, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w (stderr: %s)", err, stderr.String())
	}
	return out, nil
}

// Start starts a long-running command (a worker) and stops it with t.Cleanup.
// Its combined output is returned by the function it returns, for failures.
func Start(t testing.TB, name string, args ...string) (output func() string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return out.String
}

// StopGearmand stops the gearmand that Gearmand started at addr before the
// test ends (to test what a vanished server does to its clients).
func StopGearmand(t testing.TB, addr string) {
	t.Helper()
	stoppers.mu.Lock()
	stop := stoppers.m[addr]
	delete(stoppers.m, addr)
	stoppers.mu.Unlock()
	if stop == nil {
		t.Fatalf("no gearmand started at %s", addr)
	}
	stop()
}

// Script runs one of the start-*.sh scripts of ../shared/peers (such as
// "start-perl-gearmand.sh" or "start-abraxas-server.sh") on a free port and
// returns the server's address; t.Cleanup stops it with stop.sh.
func Script(t testing.TB, script string, args ...string) string {
	t.Helper()
	dir := filepath.Join(SharedDir(t), "peers")
	runDir := t.TempDir()
	port := strconv.Itoa(FreePort(t))
	cmd := exec.Command("bash", append([]string{filepath.Join(dir, script), port}, args...)...)
	cmd.Env = append(os.Environ(), "RUN_DIR="+runDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		Missing(t, fmt.Sprintf("%s did not start: %v: %s", script, err, out))
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", filepath.Join(dir, "stop.sh"), port)
		stop.Env = append(os.Environ(), "RUN_DIR="+runDir)
		stop.Run()
	})
	return net.JoinHostPort("127.0.0.1", port)
}
