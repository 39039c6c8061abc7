package wire_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

func TestRoundTripSmoke(t *testing.T) {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	big := bytes.Repeat([]byte("x\x00y"), 100000)
	if err := w.WritePacket(wire.Req, wire.SubmitJob, []byte("fn"), []byte("u"), []byte("a\x00b")); err != nil {
		t.Fatal(err)
	}
	w.WriteString("status\r\n")
	if err := w.WritePacket(wire.Res, wire.WorkData, []byte("H:1"), big); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(wire.Res, wire.WorkFail, []byte("H:1\x00")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(&buf)
	p, err := r.Next()
	if err != nil || p.Type != wire.SubmitJob || string(p.Arg(2)) != "a\x00b" {
		t.Fatalf("got %v, %v", p, err)
	}
	p, err = r.Next()
	if err != nil || p.Magic != wire.Text || string(p.Arg(0)) != "status" {
		t.Fatalf("got %v, %v", p, err)
	}
	p, err = r.NextHeader()
	if err != nil || p.Type != wire.WorkData || string(p.Arg(0)) != "H:1" || r.DataLen() != int64(len(big)) {
		t.Fatalf("got %v, %v", p, err)
	}
	got, err := io.ReadAll(r.Data())
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("data: %d bytes, %v", len(got), err)
	}
	p, err = r.Next()
	if err != nil || p.Type != wire.WorkFail || string(p.Arg(0)) != "H:1" {
		t.Fatalf("got %v, %v", p, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
}
