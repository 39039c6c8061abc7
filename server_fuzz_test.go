package gearman_test

import (
	"io"
	"net"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// FuzzServerConn feeds arbitrary bytes to a connection of a live server
// (with a worker and a client on other connections) and checks that the
// server neither panics nor stops serving, and that Close leaves no
// goroutine behind (the package's goleak TestMain).
func FuzzServerConn(f *testing.F) {
	pk := func(t wire.Type, args ...string) []byte {
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		b, _ := wire.AppendPacket(nil, wire.Req, t, bs...)
		return b
	}
	f.Add(pk(wire.SubmitJob, "f", "u", "data"))
	f.Add(append(pk(wire.CanDo, "f"), pk(wire.GrabJobAll)...))
	f.Add(append(pk(wire.CanDoTimeout, "f", "10"), pk(wire.PreSleep)...))
	f.Add(pk(wire.WorkComplete, "H:fz:1", "x"))
	f.Add(pk(wire.SubmitJobSched, "f", "u", "*/5", "1-3", "", "", "0,6", "d"))
	f.Add(pk(wire.SubmitJobEpoch, "f", "u", "99999999999999999999", "d"))
	f.Add([]byte("status\r\nworkers\nshow jobs\r\ncancel job H:fz:1\r\nmaxqueue f 1 2 3\n"))
	f.Add([]byte("\x00REQ\x00\x00\x00\x07\xff\xff\xff\xff"))
	f.Add([]byte("\x00RES\x00\x00\x00\x10\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &gearman.Server{HandlePrefix: "H:fz", MaxPacketSize: 1 << 16}
		defer s.Close()
		// Another client and worker on the same server.
		wa, wb := net.Pipe()
		go s.ServeConn(wb)
		w := wiretest.New(t, wa)
		w.Send(wire.CanDo, "f")
		w.Send(wire.EchoReq, "ready")
		w.Expect(wire.EchoRes, "ready")

		a, b := net.Pipe()
		served := make(chan struct{})
		go func() { s.ServeConn(b); close(served) }()
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, a); close(drained) }()
		a.Write(in)
		a.Close()
		<-served
		<-drained

		w.Send(wire.EchoReq, "still")
		for {
			p := w.Next()
			if p.Type == wire.EchoRes {
				if p.Args[0] != "still" {
					t.Fatalf("got %v", p)
				}
				break
			}
			if p.Type != wire.Noop {
				t.Fatalf("worker got %v", p)
			}
		}
	})
}
