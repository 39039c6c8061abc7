package wiretest_test

import (
	"net"
	"testing"

	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestScript(t *testing.T) {
	l := wiretest.Listen(t)
	nc, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	p := l.Accept()
	w := wire.NewWriter(nc)
	w.WritePacket(wire.Req, wire.EchoReq, []byte("hi"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := p.ExpectPacket(wire.EchoReq); string(got.Arg(0)) != "hi" {
		t.Fatalf("got %v", got)
	}
	p.Send(wire.EchoRes, "hi")
	pk, err := wire.NewReader(nc).Next()
	if err != nil || pk.Magic != wire.Res || pk.Type != wire.EchoRes || string(pk.Arg(0)) != "hi" {
		t.Fatalf("got %v, %v", pk, err)
	}
	nc.Close()
	p.ExpectClosedNow()
}
