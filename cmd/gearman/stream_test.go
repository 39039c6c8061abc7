package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// ourServer runs our job server on a loopback port for the test.
func ourServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gearman.Server{}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, gearman.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// startWorker starts our CLI as a worker; stop stops it and returns its peak
// resident memory in bytes.
func startWorker(t *testing.T, bin string, args ...string) (stop func() int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeak(t, cmd.Process.Pid)
	var rss int64
	stopped := false
	stop = func() int64 {
		if !stopped {
			stopped = true
			rss = peak()
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
		return rss
	}
	t.Cleanup(func() { stop() })
	return stop
}

// watchPeak samples a running process's peak resident memory (VmHWM in
// /proc: getrusage's figure for a child can include the parent's memory at
// the fork) until the returned function is called, which returns it.
func watchPeak(t *testing.T, pid int) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
				if n<<10 > peak.Load() {
					peak.Store(n << 10)
				}
			}
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(stop); <-done })
		return peak.Load()
	}
}

// `gearman -f F < big > out` through our server and our worker streams in
// bounded memory: 256 MiB through cat, byte for byte, with neither the
// client nor the worker growing past 64 MiB; and gzip round-trips.
func TestStreamingThroughOurServer(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB through the CLI")
	}
	bin := build(t)
	addr := ourServer(t)
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	stopCat := startWorker(t, bin, append(hp, "-w", "-f", "cat", "--", "cat")...)
	startWorker(t, bin, append(hp, "-w", "-f", "gzip", "--", "gzip", "-1")...)
	waitWorker(t, addr, "cat")
	waitWorker(t, addr, "gzip")

	dir := t.TempDir()
	in := filepath.Join(dir, "big")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{7})
	chunk := make([]byte, 1<<20)
	for range 256 {
		r.Read(chunk)
		f.Write(chunk)
		h.Write(chunk)
	}
	f.Close()
	want := h.Sum(nil)

	run := func(fn string, input string) (out string, rss int64) {
		t.Helper()
		stdin, _ := os.Open(input)
		defer stdin.Close()
		out = filepath.Join(dir, fn+".out")
		stdout, _ := os.Create(out)
		defer stdout.Close()
		cmd := exec.Command(bin, append(hp, "-f", fn)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, os.Stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		peak := watchPeak(t, cmd.Process.Pid)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("gearman -f %s: %v", fn, err)
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("gearman -f %s did not finish", fn)
		}
		return out, peak()
	}

	out, clientRSS := run("cat", in)
	got := sha256.New()
	of, _ := os.Open(out)
	n, _ := io.Copy(got, of)
	of.Close()
	if !bytes.Equal(got.Sum(nil), want) {
		t.Fatalf("cat: %d bytes back, not the 256 MiB sent", n)
	}
	workerRSS := stopCat()
	t.Logf("peak memory: client %d MiB, worker %d MiB", clientRSS>>20, workerRSS>>20)
	if clientRSS > 64<<20 || workerRSS > 64<<20 {
		t.Errorf("peak memory: client %d MiB, worker %d MiB; want both under 64 MiB", clientRSS>>20, workerRSS>>20)
	}

	// gzip: a smaller file, then check the compressed result.
	small := filepath.Join(dir, "small")
	os.WriteFile(small, bytes.Repeat([]byte("gearman streams "), 1<<20), 0o600)
	out, _ = run("gzip", small)
	zf, _ := os.Open(out)
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, bytes.Repeat([]byte("gearman streams "), 1<<20)) {
		t.Fatalf("gzip round trip: %d bytes, %v", len(plain), err)
	}
}
