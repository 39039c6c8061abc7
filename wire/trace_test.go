package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// BodyLen agrees with the size field AppendPacket writes, for every type.
func TestBodyLen(t *testing.T) {
	for ty := Type(0); ty <= MaxExtType; ty++ {
		if !ty.Valid() {
			continue
		}
		args := make([][]byte, ty.NArgs())
		for i := range args {
			args[i] = bytes.Repeat([]byte{'a'}, i+1)
		}
		b, err := AppendPacket(nil, Req, ty, args...)
		if err != nil {
			t.Fatalf("%v: %v", ty, err)
		}
		lead, dataLen := args, int64(0)
		if ty.HasData() {
			lead, dataLen = args[:len(args)-1], int64(len(args[len(args)-1]))
		}
		if got, want := BodyLen(ty, lead, dataLen), int64(binary.BigEndian.Uint32(b[8:12])); got != want {
			t.Errorf("BodyLen(%v) = %d; the header says %d", ty, got, want)
		}
	}
}

// With AllowUnknown, NextHeader returns a packet of an unknown type with
// its body as data, skips it, and reads on; PeekData shows buffered data.
func TestReaderAllowUnknown(t *testing.T) {
	var in []byte
	in = binary.BigEndian.AppendUint32(append(in, "\x00RES"...), 200)
	in = binary.BigEndian.AppendUint32(in, 4)
	in = append(in, "body"...)
	in, _ = AppendPacket(in, Res, EchoRes, []byte("echo"))

	r := NewReader(bytes.NewReader(in))
	if _, err := r.NextHeader(); err == nil {
		t.Fatal("an unknown type read without AllowUnknown")
	}
	r = NewReader(bytes.NewReader(in))
	r.AllowUnknown(true)
	p, err := r.NextHeader()
	if err != nil || p.Type != 200 || len(p.Args) != 0 || r.DataLen() != 4 {
		t.Fatalf("got %v (data %d), %v; want type 200 with 4 bytes of data", p, r.DataLen(), err)
	}
	if d, ok := r.PeekData(); !ok || string(d) != "body" {
		t.Fatalf("PeekData: %q, %v", d, ok)
	}
	p, err = r.NextHeader()
	if err != nil || p.Type != EchoRes {
		t.Fatalf("after the unknown packet: %v, %v", p, err)
	}
	if d, ok := r.PeekData(); !ok || string(d) != "echo" {
		t.Fatalf("PeekData: %q, %v", d, ok)
	}
}
