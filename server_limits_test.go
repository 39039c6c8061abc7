package gearman_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// srvHeader builds a packet header with any magic, type and size.
func srvHeader(magic string, typ, size uint32) []byte {
	b := []byte(magic)
	b = binary.BigEndian.AppendUint32(b, typ)
	return binary.BigEndian.AppendUint32(b, size)
}

func TestServerBadInput(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxPacketSize: 1024})
	bystander := wiretest.Dial(t, addr)
	bystander.Send(wire.SubmitJob, "f", "", "waiting")
	bystander.ExpectType(wire.JobCreated)

	kept := wiretest.Dial(t, addr)
	kept.SendRaw(srvHeader("\x00RES", uint32(wire.EchoReq), 0))
	kept.Expect(wire.Error, "INVALID_MAGIC", "Request magic expected")
	for _, typ := range []wire.Type{wire.Noop, wire.JobCreated, wire.StatusRes, wire.EchoRes} {
		raw, _ := wire.AppendPacket(nil, wire.Req, typ, make([][]byte, typ.NArgs())...)
		kept.SendRaw(raw)
		kept.Expect(wire.Error, "INVALID_COMMAND", "Command not expected")
	}
	kept.Sync()

	for _, tc := range []struct {
		name string
		raw  []byte
		code string
	}{
		{"unknown type", srvHeader("\x00REQ", 43, 0), "INVALID_COMMAND"},
		{"type 5", srvHeader("\x00REQ", 5, 0), "INVALID_COMMAND"},
		{"bad magic", srvHeader("\x00XYZ", 16, 0), "INVALID_MAGIC"},
		{"oversized", srvHeader("\x00REQ", uint32(wire.EchoReq), 1<<31), "ARGUMENT_TOO_LARGE"},
		{"too few NULs", append(srvHeader("\x00REQ", uint32(wire.SubmitJob), 3), "abc"...), "INVALID_ARGUMENT"},
		{"body on empty type", append(srvHeader("\x00REQ", uint32(wire.GrabJob), 1), "x"...), "INVALID_ARGUMENT"},
	} {
		p := wiretest.Dial(t, addr)
		p.SendRaw(tc.raw)
		got := p.ExpectClosed()
		if len(got) != 1 || got[0].Type != wire.Error || got[0].Args[0] != tc.code {
			t.Errorf("%s: got %v; want one ERROR %s then close", tc.name, got, tc.code)
		}
	}
	long := wiretest.Dial(t, addr)
	long.SendRaw([]byte(strings.Repeat("x", 70000)))
	if got := long.ExpectClosed(); len(got) != 1 || !strings.HasPrefix(got[0].Args[0], "ERR INVALID_ARGUMENTS") {
		t.Errorf("long line: got %v", got)
	}
	// Everyone else goes on.
	kept.Sync()
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	h := w.ExpectType(wire.JobAssign).Args[0]
	w.Send(wire.WorkComplete, h, "fine")
	bystander.Expect(wire.WorkComplete, h, "fine")
}

func TestServerMaxConnections(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxConnections: 1})
	first := wiretest.Dial(t, addr)
	first.Sync()
	second := wiretest.Dial(t, addr)
	second.ExpectClosed()
	first.C.Close()
	time.Sleep(50 * time.Millisecond)
	third := wiretest.Dial(t, addr)
	third.Sync()
}

func TestServerSlowReaderDoesNotStallOthers(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxPacketSize: 1 << 20})
	slow := wiretest.Dial(t, addr)
	// Ask for echoes and never read them: the server must close this
	// connection past its outbound limit, never block others.
	big := strings.Repeat("z", 1<<20-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, _ := wire.AppendPacket(nil, wire.Req, wire.EchoReq, []byte(big))
		for range 40 {
			slow.C.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := slow.C.Write(raw); err != nil {
				return
			}
		}
	}()
	other := wiretest.Dial(t, addr)
	for range 20 {
		other.Sync()
	}
	<-done
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool of
// roots that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

func TestServerTLS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	addr := srvStart(t, &gearman.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	p := wiretest.New(t, nc)
	p.Sync()
	if got := p.Admin("version", false); !strings.HasPrefix(got, "OK ") {
		t.Errorf("version over TLS = %q", got)
	}
	// A plain-text peer gets nothing useful and is dropped.
	plain := wiretest.Dial(t, addr)
	plain.Send(wire.EchoReq, "x")
	plain.ExpectClosed()
}

func TestServerShutdownWaitsForRunningJobs(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "f", "", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJob, "f", "", "y")
	c.Expect(wire.JobCreated, "H:test:2")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.ExpectType(wire.JobAssign)

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, gearman.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
	w.Send(wire.GrabJob) // no new assignments while draining
	w.Expect(wire.NoJob)
	c.Send(wire.SubmitJob, "f", "", "z")
	c.Expect(wire.Error, "SHUTDOWN_GRACEFUL", "Server is shutting down")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a job running", err)
	case <-time.After(quiet):
	}
	w.Send(wire.WorkComplete, "H:test:1", "done")
	c.Expect(wire.WorkComplete, "H:test:1", "done")
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	c.ExpectClosed()
	if err := s.Serve(l); !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
	if err := s.ListenAndServe(); !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("ListenAndServe after Shutdown = %v", err)
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	s := &gearman.Server{}
	addr := srvStart(t, s)
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "f", "", "x")
	c.ExpectType(wire.JobCreated)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.ExpectType(wire.JobAssign)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v; want DeadlineExceeded", err)
	}
	w.ExpectClosed()
}

func TestServerShutdownCommand(t *testing.T) {
	s := &gearman.Server{EnableShutdownCommand: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	a := wiretest.Dial(t, l.Addr().String())
	if got := a.Admin("shutdown", false); got != "OK\r\n" {
		t.Errorf("shutdown = %q", got)
	}
	if err := <-served; !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	s.Close()
}

func TestServerServeConnPipe(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:pipe"}
	defer s.Close()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { s.ServeConn(b); close(done) }()
	p := wiretest.New(t, a)
	p.Send(wire.SubmitJobBg, "f", "", "x")
	p.Expect(wire.JobCreated, "H:pipe:1")
	s.Close()
	<-done
	// After Close, ServeConn closes at once.
	x, y := net.Pipe()
	s.ServeConn(y)
	if _, err := x.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Close = %v; want EOF", err)
	}
}
