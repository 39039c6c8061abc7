package gearman_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// heapPeak samples HeapInuse until the returned stop is called, which
// returns the highest sample above the heap in use at the start. Meanwhile
// the collector runs early (GOGC 10), so the samples show what is live
// rather than garbage awaiting collection.
func heapPeak() (stop func() uint64) {
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		return peak.Load()
	}
}

// A client that submits jobs with large results and never reads is cut
// once its unsent output would pass the server's limit (twice
// MaxPacketSize plus 16 MiB): the server holds no more than that for it
// (results go to its output by reference, never copied into one growing
// buffer), and every other connection is served meanwhile.
func TestServerNonReaderMemoryBounded(t *testing.T) {
	for _, size := range []int{8<<20 - 1024, 256 << 10} {
		t.Run(strconv.Itoa(size>>10)+"KiB", func(t *testing.T) { testNonReader(t, size) })
	}
}

func testNonReader(t *testing.T, size int) {
	const maxPacket = 8 << 20
	const limit = 2*maxPacket + 16<<20
	addr := srvStart(t, &gearman.Server{MaxPacketSize: maxPacket})
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "big")
	w.Sync()
	other := wiretest.Dial(t, addr)
	other.Sync()
	result := make([]byte, size)
	pkt := make([]byte, 0, maxPacket)

	peak := heapPeak()
	hog, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	jobs := 4 * limit / size // four times the limit in results
	var req []byte
	for range jobs {
		req, _ = wire.AppendPacket(req, wire.Req, wire.SubmitJob, []byte("big"), nil, []byte("x"))
	}
	if _, err := hog.Write(req); err != nil {
		t.Fatal(err)
	}
	other.Sync()

	// Meanwhile another connection's echoes keep coming.
	echoes := make(chan error, 1)
	stopEcho := make(chan struct{})
	go func() {
		defer close(echoes)
		for {
			select {
			case <-stopEcho:
				return
			default:
			}
			other.C.SetDeadline(time.Now().Add(wiretest.Timeout))
			raw, _ := wire.AppendPacket(nil, wire.Req, wire.EchoReq, []byte("ping"))
			if _, err := other.C.Write(raw); err != nil {
				echoes <- err
				return
			}
			if _, err := io.ReadFull(other.C, make([]byte, len(raw))); err != nil {
				echoes <- err
				return
			}
		}
	}()

	done := 0
	for {
		w.Send(wire.GrabJob)
		p := w.Next()
		if p.Type == wire.NoJob && done == 0 {
			time.Sleep(5 * time.Millisecond) // the submits are on their way
			continue
		}
		if p.Type == wire.NoJob {
			break
		}
		if p.Type != wire.JobAssign {
			t.Fatalf("worker got %v", p)
		}
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.WorkComplete, []byte(p.Args[0]), result)
		w.C.SetWriteDeadline(time.Now().Add(wiretest.Timeout))
		if _, err := w.C.Write(pkt); err != nil {
			t.Fatal(err)
		}
		done++
	}
	close(stopEcho)
	if err := <-echoes; err != nil {
		t.Errorf("echo on another connection while the non-reader was served: %v", err)
	}
	got := peak()
	if done == jobs {
		t.Errorf("the worker ran all %d jobs: the non-reader was never cut", jobs)
	}
	// The hog is closed: what it reads ends.
	hog.SetReadDeadline(time.Now().Add(wiretest.Timeout))
	if _, err := io.Copy(io.Discard, hog); err != nil && !isConnReset(err) {
		t.Errorf("the non-reader's connection did not end: %v", err)
	}
	// The limit, the results being read meanwhile, and room for garbage
	// between collections; the server that copied results into one
	// growing buffer reached 127-143 MiB here for 8 MiB results, 89 MiB
	// for 256 KiB ones.
	if bound := uint64(limit + 6*size + 16<<20); got > bound {
		t.Errorf("heap grew by %d MiB for one non-reader; want at most %d MiB", got>>20, bound>>20)
	}
	t.Logf("jobs run %d of %d; heap peak +%d MiB", done, jobs, got>>20)
}

// isConnReset reports whether err is a connection reset by the peer.
func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// Function names are limited (512 bytes by default, as gearmand's
// GEARMAN_FUNCTION_MAX_SIZE); client ids are cut at MaxClientID.
func TestServerNameLimits(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxClientID: 10})
	ok := strings.Repeat("f", 512)
	long := strings.Repeat("g", 513)
	p := wiretest.Dial(t, addr)
	p.Send(wire.CanDo, long)
	p.Expect(wire.Error, "ARGUMENT_TOO_LARGE", "Function name longer than the server accepts")
	p.Send(wire.SubmitJobBg, long, "", "x")
	p.Expect(wire.Error, "ARGUMENT_TOO_LARGE", "Function name longer than the server accepts")
	p.Send(wire.SubmitJobBg, ok, "", "x")
	p.ExpectType(wire.JobCreated)
	p.Send(wire.SetClientID, "0123456789abcdef")
	if got := p.Admin("create function "+long, false); !strings.HasPrefix(got, "ERR INVALID_ARGUMENTS") {
		t.Errorf("create function with a long name = %q", got)
	}
	if got := p.Admin("status", true); got != ok+"\t1\t0\t0\n.\n" {
		t.Errorf("status = %q", got)
	}
	if got := p.Admin("workers", true); !strings.Contains(got, " 0123456789 :\n") {
		t.Errorf("workers = %q; want the client id cut at 10 bytes", got)
	}

	small := srvStart(t, &gearman.Server{MaxFunctionName: 3})
	q := wiretest.Dial(t, small)
	q.Send(wire.SubmitJob, "abcd", "", "x")
	q.Expect(wire.Error, "ARGUMENT_TOO_LARGE", "Function name longer than the server accepts")
	q.Send(wire.SubmitJob, "abc", "", "x")
	q.ExpectType(wire.JobCreated)
}

// A function that peers made and left, with no job and no worker, is
// forgotten; one an admin made or configured stays.
func TestServerForgetsFunctionsPeersLeft(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	admin := wiretest.Dial(t, addr)
	w := wiretest.SleepingWorker(t, addr, "worked", "kept")
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "waited", "", "x") // no worker: dropped when c goes
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobBg, "queued", "", "x") // stays queued
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobBg, "worked", "", "x")
	c.ExpectType(wire.JobCreated)
	w.Expect(wire.Noop)
	w.Send(wire.GrabJob)
	h := w.ExpectType(wire.JobAssign).Args[0]
	w.Send(wire.WorkComplete, h, "done")
	w.Sync()
	if got := admin.Admin("create function made", false); got != "OK\r\n" {
		t.Fatalf("create function = %q", got)
	}
	if got := admin.Admin("maxqueue kept 5", false); got != "OK\r\n" {
		t.Fatalf("maxqueue = %q", got)
	}
	want := "kept\t0\t0\t1\nmade\t0\t0\t0\nqueued\t1\t0\t0\nwaited\t1\t0\t0\nworked\t0\t0\t1\n.\n"
	if got := admin.Admin("status", true); got != want {
		t.Errorf("status with everyone connected = %q; want %q", got, want)
	}
	w.C.Close()
	c.C.Close()
	want = "kept\t0\t0\t0\nmade\t0\t0\t0\nqueued\t1\t0\t0\n.\n"
	var got string
	for range 100 { // the server notices the closes in its own time
		if got = admin.Admin("status", true); got == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != want {
		t.Errorf("status after the peers left = %q; want %q", got, want)
	}
	// The queued job's function goes once its job has run.
	w2 := wiretest.Dial(t, addr)
	w2.Send(wire.CanDo, "queued")
	w2.Send(wire.GrabJob)
	h = w2.ExpectType(wire.JobAssign).Args[0]
	w2.Send(wire.WorkComplete, h, "")
	w2.Send(wire.CantDo, "queued")
	w2.Sync()
	if got := admin.Admin("status", true); got != "kept\t0\t0\t0\nmade\t0\t0\t0\nqueued\t0\t0\t0\n.\n" {
		t.Errorf("status with the worker still connected = %q", got)
	}
	w2.C.Close()
	want = "kept\t0\t0\t0\nmade\t0\t0\t0\n.\n"
	for range 100 {
		if got = admin.Admin("status", true); got == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != want {
		t.Errorf("status after the last worker left = %q; want %q", got, want)
	}
}

// Names that would forge lines or fields of the admin lists are refused:
// control characters in function names and client ids, spaces in function
// names, line breaks in unique ids.
func TestServerRefusesNamesThatForgeAdminOutput(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	p := wiretest.Dial(t, addr)
	for _, name := range []string{"f\t9\t9\t9\nfake", "two words", "cr\r", "del\x7f"} {
		p.Send(wire.CanDo, name)
		p.Expect(wire.Error, "INVALID_ARGUMENT", "Function name holds a space or control character")
		p.Send(wire.SubmitJobBg, name, "", "x")
		p.Expect(wire.Error, "INVALID_ARGUMENT", "Function name holds a space or control character")
	}
	p.Send(wire.SubmitJobBg, "f", "u\nfake", "x")
	p.Expect(wire.Error, "INVALID_ARGUMENT", "Unique id holds a line break")
	p.Send(wire.SubmitJobBg, "ünï/fine:1", "u\tbinary\x01", "x")
	p.ExpectType(wire.JobCreated)
	p.Send(wire.SetClientID, "me\n99 6.6.6.6 fake : f")
	p.Expect(wire.Error, "INVALID_ARGUMENT", "Client id holds a control character")
	p.Send(wire.CanDo, "ünï/fine:1")
	p.Send(wire.SetClientID, "with spaces")
	p.Sync()
	if got := p.Admin("create function a\tb", false); !strings.HasPrefix(got, "ERR INVALID_ARGUMENTS") {
		t.Errorf("create function with a tab = %q", got)
	}
	if got := p.Admin("show unique jobs", true); got != "u\tbinary\x01\n.\n" {
		t.Errorf("show unique jobs = %q", got)
	}
	if got := p.Admin("status", true); got != "ünï/fine:1\t1\t0\t1\n.\n" {
		t.Errorf("status = %q", got)
	}
	got := p.Admin("workers", true)
	if strings.Count(got, "\n") != 2 || !strings.HasSuffix(got, " 127.0.0.1 with spaces : ünï/fine:1\n.\n") {
		t.Errorf("workers = %q", got)
	}
	w, err := wire.ParseWorkers([]byte(strings.SplitN(got, "\n", 2)[0]))
	if err != nil || w.ClientID != "with spaces" {
		t.Errorf("ParseWorkers(%q) = %+v, %v", got, w, err)
	}
}

// Peers that start a packet, an admin line or a TLS handshake and never
// finish are closed, so they cannot hold every connection MaxConnections
// allows; peers idle between packets stay.
func TestServerSlowlorisPeersAreCut(t *testing.T) {
	const d = 300 * time.Millisecond
	addr := srvStart(t, &gearman.Server{MaxConnections: 3, PacketTimeout: d})
	idle := wiretest.Dial(t, addr)
	idle.Sync()
	half := wiretest.Dial(t, addr)
	half.SendRaw([]byte("\x00REQ\x00\x00")) // half a header
	line := wiretest.Dial(t, addr)
	line.SendRaw([]byte("stat")) // an admin line with no end
	// Meanwhile the server is full.
	full := wiretest.Dial(t, addr)
	full.ExpectClosed()
	half.ExpectClosed()
	line.ExpectClosed()
	// Both are gone: a new peer gets in, and the idle one, idle for
	// longer than PacketTimeout, is still served.
	var next *wiretest.Peer
	for range 100 { // the server notices the closes in its own time
		next = wiretest.Dial(t, addr)
		next.Send(wire.EchoReq, "in")
		if p, err := next.NextErr(wiretest.Timeout); err == nil {
			if p.Type != wire.EchoRes {
				t.Fatalf("got %v; want ECHO_RES", p)
			}
			break
		}
		next = nil
		time.Sleep(10 * time.Millisecond)
	}
	if next == nil {
		t.Fatal("no new connection got in after the stalled ones were cut")
	}
	time.Sleep(2 * d)
	idle.Sync()
}

// A large packet may take longer than PacketTimeout while it keeps coming
// (a MiB within each PacketTimeout).
func TestServerPacketTimeoutLetsLargePacketsProgress(t *testing.T) {
	const d = time.Second
	addr := srvStart(t, &gearman.Server{PacketTimeout: d})
	p := wiretest.Dial(t, addr)
	data := make([]byte, 4<<20)
	raw, _ := wire.AppendPacket(nil, wire.Req, wire.EchoReq, data)
	go func() {
		for off := 0; off < len(raw); off += 1 << 20 {
			end := min(off+1<<20, len(raw))
			p.C.SetWriteDeadline(time.Now().Add(wiretest.Timeout))
			if _, err := p.C.Write(raw[off:end]); err != nil {
				return
			}
			time.Sleep(d / 3) // 4 MiB with 4 pauses: longer than d in all
		}
	}()
	got := p.ExpectType(wire.EchoRes)
	if len(got.Args[0]) != len(data) {
		t.Errorf("echo of %d bytes; want %d", len(got.Args[0]), len(data))
	}
}

// A TLS peer that never finishes its handshake is closed.
func TestServerTLSHandshakeTimeout(t *testing.T) {
	cert, roots := selfSigned(t)
	addr := srvStart(t, &gearman.Server{
		TLSConfig:        &tls.Config{Certificates: []tls.Certificate{cert}},
		HandshakeTimeout: 300 * time.Millisecond,
	})
	mute := wiretest.Dial(t, addr) // connects and says nothing
	partial := wiretest.Dial(t, addr)
	partial.SendRaw([]byte{0x16, 0x03, 0x01, 0x00}) // the start of a ClientHello
	for _, p := range []*wiretest.Peer{mute, partial} {
		p.C.SetReadDeadline(time.Now().Add(wiretest.Timeout))
		if _, err := io.Copy(io.Discard, p.C); err != nil && !isConnReset(err) {
			t.Errorf("a peer that did not finish its handshake was not closed: %v", err)
		}
	}
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	wiretest.New(t, nc).Sync()
}
