package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// TestMain runs the tests under goleak.VerifyTestMain (peertest.RunMain),
// then removes the binary that build made.
func TestMain(m *testing.M) { peertest.RunMain(m) }

// build builds the command once and returns its path.
func build(t *testing.T) string { return peertest.Command(t, "gearman") }

// result is what one run of a tool printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

var handleRE = regexp.MustCompile(`H:[^:\s]+:[0-9]+`)

// runTool runs path with args and stdin, and returns its output with job
// handles and its own path replaced, so that two tools' runs compare.
func runTool(t *testing.T, stdin []byte, path string, args ...string) result {
	t.Helper()
	r := runRaw(t, stdin, path, args...)
	for _, s := range []*string{&r.stdout, &r.stderr} {
		*s = handleRE.ReplaceAllString(*s, "H:host:N")
		*s = strings.ReplaceAll(*s, path, "gearman")
	}
	return r
}

// runRaw runs path with args and stdin, and returns its output as it is.
func runRaw(t *testing.T, stdin []byte, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %q: %v", path, args, err)
	}
	return r
}

// waitWorker waits until a worker has registered fn on the server.
func waitWorker(t *testing.T, addr, fn string) {
	t.Helper()
	host, port := peertest.HostPort(t, addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _ := peertest.RunErr(nil, 5*time.Second, peertest.Require(t, "gearadmin"), "-h", host, "-p", port, "--workers")
		if bytes.Contains(out, []byte(" "+fn+"\n")) || bytes.Contains(out, []byte(" "+fn+" ")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker registered %s", fn)
		}
	}
}

// clientCase is one client command line, with its standard input.
type clientCase struct {
	name  string
	stdin string
	args  []string
}

var clientCases = []clientCase{
	{name: "args", args: []string{"-f", "reverse", "abc", "def", "ghi"}},
	{name: "stdin", stdin: "hello\nworld\n", args: []string{"-f", "reverse"}},
	{name: "-n", stdin: "hello\nworld\n", args: []string{"-n", "-f", "reverse"}},
	{name: "-N", stdin: "hello\nworld\n", args: []string{"-N", "-f", "reverse"}},
	{name: "-P", args: []string{"-P", "-f", "reverse", "abc", "def"}},
	{name: "-P -n", stdin: "ab\ncd\n", args: []string{"-P", "-n", "-f", "reverse"}},
	{name: "options after data", args: []string{"-f", "reverse", "abc", "-P"}},
	{name: "--", args: []string{"-f", "reverse", "--", "-x"}},
	{name: "-s", stdin: "ignored", args: []string{"-s", "-f", "reverse"}},
	{name: "-P -s", args: []string{"-P", "-s", "-f", "reverse"}},
	{name: "-b", args: []string{"-b", "-f", "reverse", "abc"}},
	{name: "-b -v", args: []string{"-b", "-v", "-f", "reverse", "abc", "def"}},
	{name: "-v", args: []string{"-v", "-f", "reverse", "abc", "def"}},
	{name: "-P -v", args: []string{"-P", "-v", "-f", "reverse", "abc", "def"}},
	{name: "-u", args: []string{"-u", "key1", "-f", "reverse", "abc"}},
	{name: "-I", args: []string{"-I", "-f", "reverse", "abc"}},
	{name: "-L", args: []string{"-L", "-f", "reverse", "abc"}},
	{name: "two functions", args: []string{"-f", "reverse", "-f", "reverse", "abc"}},
	{name: "failure", args: []string{"-f", "failer", "abc"}},
	{name: "failure -P", args: []string{"-P", "-f", "failer", "abc", "def"}},
	{name: "no command", args: []string{"-f", "echo", "abc"}},
	{name: "-n worker", stdin: "a\nbb\nccc\n", args: []string{"-N", "-f", "lines"}},
}

// startWorkers starts the workers the client cases use, with tool (the C
// gearman or ours), and waits until they are registered.
func startWorkers(t *testing.T, tool, addr string) (echoOutput func() string) {
	t.Helper()
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	peertest.Start(t, tool, append(hp, "-w", "-f", "reverse", "--", "rev")...)
	failer := []string{"-w", "-f", "failer"}
	if tool != peertest.Require(t, "gearman") {
		// Ours drops the output of a failed command unless it streams
		// (the library cannot send held data before WORK_FAIL).
		failer = append(failer, "--stream")
	}
	peertest.Start(t, tool, append(append(hp, failer...), "--", "sh", "-c", "cat >/dev/null; echo out; exit 3")...)
	peertest.Start(t, tool, append(hp, "-w", "-f", "lines", "--", "cat")...)
	echoOutput = peertest.Start(t, tool, append(hp, "-w", "-f", "echo")...)
	for _, fn := range []string{"reverse", "failer", "lines", "echo"} {
		waitWorker(t, addr, fn)
	}
	return echoOutput
}

// TestClientSameAsC runs our client and the C client with the same
// arguments against the C worker, and compares their output and exit code.
func TestClientSameAsC(t *testing.T) {
	cTool := peertest.Require(t, "gearman")
	peertest.Require(t, "rev")
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	startWorkers(t, cTool, addr)
	for _, c := range clientCases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-h", host, "-p", port}, c.args...)
			want := runTool(t, []byte(c.stdin), cTool, args...)
			got := runTool(t, []byte(c.stdin), ours, args...)
			if got != want {
				t.Errorf("gearman %q:\nours:   %v\nC tool: %v", args, got, want)
			}
		})
	}
}

// TestWorkerSameAsC runs the client cases, with the C client and ours,
// against our workers, and compares with what they print against the C
// workers.
func TestWorkerSameAsC(t *testing.T) {
	cTool := peertest.Require(t, "gearman")
	peertest.Require(t, "rev")
	ours := build(t)
	cAddr, oAddr := peertest.Gearmand(t), peertest.Gearmand(t)
	cEcho := startWorkers(t, cTool, cAddr)
	oEcho := startWorkers(t, ours, oAddr)
	for label, client := range map[string]string{"C client": cTool, "our client": ours} {
		for _, c := range clientCases {
			if c.name == "-n worker" {
				continue // the C worker resends every line so far with each line
			}
			t.Run(label+"/"+c.name, func(t *testing.T) {
				run := func(addr string) result {
					host, port := peertest.HostPort(t, addr)
					return runTool(t, []byte(c.stdin), client, append([]string{"-h", host, "-p", port}, c.args...)...)
				}
				if got, want := run(oAddr), run(cAddr); got != want {
					t.Errorf("client %s %q:\nwith our worker: %v\nwith the C one:  %v", client, c.args, got, want)
				}
			})
		}
	}
	// The worker without a command writes the payloads to its output.
	deadline := time.Now().Add(5 * time.Second)
	for oEcho() != cEcho() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if oEcho() != cEcho() || oEcho() == "" {
		t.Errorf("worker without a command printed %q, the C one %q", oEcho(), cEcho())
	}
}

// TestWorkerLines checks -n and -N: a packet per line, sent as written.
func TestWorkerLines(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	peertest.Start(t, ours, append(hp, "-w", "-n", "-f", "lines", "--", "cat")...)
	peertest.Start(t, ours, append(hp, "-w", "-N", "-f", "linesN", "--", "cat")...)
	for fn, want := range map[string]string{"lines": "a\nbb\nccc", "linesN": "abbccc"} {
		if got := runTool(t, []byte("a\nbb\nccc"), ours, append(hp, "-f", fn)...); got != (result{stdout: want}) {
			t.Errorf("%s: got %v, want %q", fn, got, want)
		}
	}
}

// TestUsageSameAsC compares the help and the usage errors.
func TestUsageSameAsC(t *testing.T) {
	cTool := peertest.Require(t, "gearman")
	ours := build(t)
	for _, args := range [][]string{
		{"-H"}, {"-H", "-f", "x"}, {"-Z", "-f", "x"}, {}, {"-f"}, {"-f", "x", "-c"},
		{"-b", "-w", "-N", "-v", "-f", "x", "-H"}, {"-Z", "-H", "-f", "x"},
	} {
		want := runTool(t, nil, cTool, args...)
		if got := runTool(t, nil, ours, args...); got != want {
			t.Errorf("gearman %q:\nours:   %v\nC tool: %v", args, got, want)
		}
	}
}

// TestWorkerCount checks that -c N exits after N jobs, and -i's pid file.
func TestWorkerCount(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	pidFile := filepath.Join(t.TempDir(), "worker.pid")
	cmd := exec.Command(ours, append(hp, "-w", "-c", "2", "-i", pidFile, "-f", "counted", "--", "cat")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	waitWorker(t, addr, "counted")
	if pid, _ := os.ReadFile(pidFile); strings.TrimSpace(string(pid)) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("pid file holds %q, want %d", pid, cmd.Process.Pid)
	}
	for _, data := range []string{"one", "two"} {
		if got := runTool(t, nil, ours, append(hp, "-f", "counted", data)...); got.stdout != data {
			t.Fatalf("job %s: %v", data, got)
		}
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("worker exited with %v: %s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not exit after 2 jobs")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

// TestWorkerSignal checks that SIGTERM stops a worker with exit code 0.
func TestWorkerSignal(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	cmd := exec.Command(ours, "-h", host, "-p", port, "-w", "-f", "sig", "--", "cat")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitWorker(t, addr, "sig")
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("the worker did not stop")
	}
}

// TestLargeStdin sends 32 MiB through cat workers (ours, streaming and
// not) with our client, and 1 MiB with the C client, checked by hash.
func TestLargeStdin(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	peertest.Start(t, ours, append(hp, "-w", "--stream", "-f", "cat", "--", "cat")...)
	peertest.Start(t, ours, append(hp, "-w", "-f", "catwhole", "--", "cat")...)
	waitWorker(t, addr, "cat")
	waitWorker(t, addr, "catwhole")
	big := make([]byte, 32<<20)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(big)
	want := sha256.Sum256(big)
	for _, fn := range []string{"cat", "catwhole"} {
		got := runRaw(t, big, ours, append(hp, "-f", fn)...)
		if sha256.Sum256([]byte(got.stdout)) != want || got.code != 0 {
			t.Errorf("%s: %d bytes back (exit %d, stderr %q), want the 32 MiB sent", fn, len(got.stdout), got.code, got.stderr)
		}
	}
	if cTool, err := exec.LookPath("gearman"); err == nil {
		// The C client reads its standard input 1 KiB at a time into a
		// growing buffer: 1 MiB is what it manages in reasonable time.
		small := big[:1<<20]
		got := runRaw(t, small, cTool, append(hp, "-f", "cat")...)
		if !bytes.Equal([]byte(got.stdout), small) {
			t.Errorf("the C client got %d bytes back through our worker, want 1 MiB", len(got.stdout))
		}
	}
}

// TestClientErrors checks the errors the C tool reports with exit code 0:
// ours exits with 1.
func TestClientErrors(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	got := runTool(t, nil, ours, "-h", host, "-p", port, "-t", "300", "-f", "nobody", "abc")
	if got.code != 1 || !strings.Contains(got.stderr, "GEARMAN_TIMEOUT") {
		t.Errorf("timeout: %v", got)
	}
	got = runTool(t, nil, ours, "-h", "127.0.0.1", "-p", strconv.Itoa(peertest.FreePort(t)), "-f", "nobody", "abc")
	if got.code != 1 || !strings.Contains(got.stderr, "GEARMAN_COULD_NOT_CONNECT") {
		t.Errorf("no server: %v", got)
	}
	// A second server that is down does not stop the jobs.
	got = runTool(t, nil, ours, "-h", host, "-h", "127.0.0.1:"+strconv.Itoa(peertest.FreePort(t)), "-p", port, "-t", "300", "-f", "nobody", "abc")
	if got.code != 1 || !strings.Contains(got.stderr, "GEARMAN_TIMEOUT") {
		t.Errorf("timeout with a server down: %v", got)
	}
}

// TestInteropMatrix runs ../shared/peers/interop-matrix.sh with our tool as
// a worker and a client beside every peer.
func TestInteropMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the interop matrix takes a minute")
	}
	ours := build(t)
	script := filepath.Join(peertest.SharedDir(t), "peers", "interop-matrix.sh")
	peertest.Require(t, "gearman")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "gearmand", strconv.Itoa(peertest.FreePort(t)))
	cmd.Env = append(os.Environ(), "OURS_CLI="+ours, "RUN_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("interop-matrix.sh: %v", err)
	}
	m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`).FindSubmatch(out)
	if m == nil {
		t.Fatal("no summary line")
	}
	if n, _ := strconv.Atoi(string(m[1])); string(m[2]) != "0" || n < 64 {
		t.Fatalf("%s passed, %s failed; want at least 64 passed (8 workers x 8 clients), 0 failed", m[1], m[2])
	}
}

// String shows a result with its bytes quoted.
func (r result) String() string {
	return fmt.Sprintf("{stdout %q, stderr %q, exit %d}", r.stdout, r.stderr, r.code)
}

// -v -v dumps every packet on standard error; -v -v -v their data too.
func TestVerboseDump(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	got := runRaw(t, nil, ours, "-h", host, "-p", port, "-v", "-v", "-b", "-f", "dumped", "payload")
	if got.code != 0 {
		t.Fatalf("gearman -v -v: %v", got)
	}
	for _, want := range []string{
		"gearman: --> " + addr + ` OPTION_REQ "exceptions" size=10` + "\n",
		"gearman: --> " + addr + ` SUBMIT_JOB_BG "dumped" "" size=15 data=7` + "\n",
		"gearman: <-- " + addr + " JOB_CREATED handle=H:",
	} {
		if !strings.Contains(got.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got.stderr)
		}
	}
	got = runRaw(t, nil, ours, "-h", host, "-p", port, "-v", "-v", "-v", "-b", "-f", "dumped", "payload")
	if want := ` SUBMIT_JOB_BG "dumped" "" size=15 data=7 "payload"` + "\n"; !strings.Contains(got.stderr, want) {
		t.Errorf("-v -v -v: stderr lacks %q:\n%s", want, got.stderr)
	}
	got = runRaw(t, nil, ours, "-h", host, "-p", port, "-v", "-b", "-f", "dumped", "payload")
	if strings.Contains(got.stderr, "-->") {
		t.Errorf("-v alone dumps packets:\n%s", got.stderr)
	}
}
