package gearman_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file measures the job server's memory for large jobs in a child
// process (cmd/gearmand, built without the race detector), from its peak
// resident set (VmHWM), which the test's own memory does not disturb.

// buildGearmand builds cmd/gearmand into the test's temporary directory
// and returns the binary's path.
func buildGearmand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gearmand")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/gearmand").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gearmand: %v\n%s", err, out)
	}
	return bin
}

// startChildServer starts bin (our cmd/gearmand or the C gearmand) on a
// free loopback port with args, waits until it accepts connections, and
// returns its address and pid; t.Cleanup stops it.
func startChildServer(t *testing.T, bin string, args ...string) (addr string, pid int) {
	t.Helper()
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(peertest.FreePort(t)))
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"-L", host, "-p", port, "-l", filepath.Join(t.TempDir(), "log")}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		select {
		case <-done:
			t.Fatalf("%s exited before it served %s", bin, addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections on %s", bin, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peakKiB returns the peak resident memory (VmHWM) of process pid in KiB.
func peakKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return n
		}
	}
	t.Skip("no VmHWM in /proc status")
	return 0
}

// sizedJobPeak submits a background job of size bytes in one SUBMIT_JOB_BG
// packet to the server at addr (the payload written as it is made, so that
// this process never holds it), and returns how much the server's peak
// memory grew, in bytes. A worker then takes the job and checks it.
func sizedJobPeak(t *testing.T, addr string, pid int, size int64) int64 {
	t.Helper()
	before := peakKiB(t, pid)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
	h := sha256.New()
	w := wire.NewWriter(nc)
	err = w.WriteFrom(wire.Req, wire.SubmitJobBg, [][]byte{[]byte("mem"), nil}, size, io.TeeReader(io.LimitReader(&pattern{7}, size), h))
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	rd := wire.NewReader(nc)
	if p, err := rd.Next(); err != nil || p.Type != wire.JobCreated {
		t.Fatalf("got %v, %v; want JOB_CREATED", p, err)
	}
	grown := (peakKiB(t, pid) - before) << 10

	// The worker's end: the job is there, whole and unchanged.
	w.WritePacket(wire.Req, wire.CanDo, []byte("mem"))
	w.WritePacket(wire.Req, wire.GrabJob)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	p, err := rd.NextHeader()
	if err != nil || p.Type != wire.JobAssign {
		t.Fatalf("got %v, %v; want JOB_ASSIGN", p, err)
	}
	got := sha256.New()
	if n, err := io.Copy(got, rd.Data()); err != nil || n != size || !bytes.Equal(got.Sum(nil), h.Sum(nil)) {
		t.Fatalf("the worker got %d bytes (%v), not the payload of %d", n, err, size)
	}
	return grown
}

// Our server holds a sized job (a plain SUBMIT_JOB whose payload is in the
// packet) about once: it reads the body into one buffer of its size, which
// becomes the job's. It used to grow the buffer by doubling and then copy
// the payload into a job of its own (64 MiB took 133 MiB; 300 MiB, 700).
func TestServerSizedJobMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB through a child server")
	}
	const size = 64 << 20
	addr, pid := startChildServer(t, buildGearmand(t))
	grown := sizedJobPeak(t, addr, pid, size)
	t.Logf("our server's peak memory grew %d MiB for a %d MiB job (%.2fx)", grown>>20, size>>20, float64(grown)/size)
	if float64(grown) > 1.6*size {
		t.Errorf("our server's peak memory grew %d MiB for a %d MiB job; want under 1.6 times the payload", grown>>20, size>>20)
	}
	if _, err := os.Stat(peertest.GearmandPath); err == nil {
		addr, pid := startChildServer(t, peertest.GearmandPath)
		grown := sizedJobPeak(t, addr, pid, size)
		t.Logf("gearmand's peak memory grew %d MiB for the same job (%.2fx)", grown>>20, float64(grown)/size)
	}
}

// With the embedded store, a sized background job is held about once too:
// its record is written from the job's payload, not from a copy of it in
// the store's write buffer (64 MiB took 134 MiB with the copy).
func TestServerSizedJobMemoryStored(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB through a child server and its store")
	}
	const size = 64 << 20
	addr, pid := startChildServer(t, buildGearmand(t), "--store", "file:"+t.TempDir())
	grown := sizedJobPeak(t, addr, pid, size)
	t.Logf("our server's peak memory grew %d MiB for a %d MiB stored job (%.2fx)", grown>>20, size>>20, float64(grown)/size)
	if float64(grown) > 1.6*size {
		t.Errorf("our server's peak memory grew %d MiB for a %d MiB stored job; want under 1.6 times the payload", grown>>20, size>>20)
	}
}
