package wire_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

var (
	benchFn     = []byte("resize")
	benchUnique = []byte("u-0123456789")
	benchSmall  = bytes.Repeat([]byte("s"), 64)
	benchHandle = []byte("H:box:1234567")
	benchLarge  = bytes.Repeat([]byte("L"), 1<<20)
)

// BenchmarkEncodeSmall encodes a SUBMIT_JOB with 64 bytes of data into a
// buffer with room.
func BenchmarkEncodeSmall(b *testing.B) {
	dst := make([]byte, 0, 256)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = wire.AppendPacket(dst[:0], wire.Req, wire.SubmitJob, benchFn, benchUnique, benchSmall)
		if err != nil {
			b.Fatal(err)
		}
		n = len(dst)
	}
	b.SetBytes(int64(n))
}

// BenchmarkEncodeLarge writes a 1 MiB WORK_DATA with Writer.WritePacket.
func BenchmarkEncodeLarge(b *testing.B) {
	w := wire.NewWriter(io.Discard)
	b.SetBytes(int64(wire.HeaderSize + len(benchHandle) + 1 + len(benchLarge)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WritePacket(wire.Res, wire.WorkData, benchHandle, benchLarge); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSmall decodes a SUBMIT_JOB with 64 bytes of data with
// Reader.Next, from a stream that repeats it forever.
func BenchmarkDecodeSmall(b *testing.B) {
	pkt, _ := wire.AppendPacket(nil, wire.Req, wire.SubmitJob, benchFn, benchUnique, benchSmall)
	r := wire.NewReader(&repeater{pattern: pkt})
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.Next()
		if err != nil || len(p.Args) != 3 {
			b.Fatal(p, err)
		}
	}
}

// BenchmarkDecodeLargeNext decodes a 1 MiB WORK_DATA whole with Reader.Next.
func BenchmarkDecodeLargeNext(b *testing.B) {
	pkt, _ := wire.AppendPacket(nil, wire.Res, wire.WorkData, benchHandle, benchLarge)
	r := wire.NewReader(&repeater{pattern: pkt})
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.Next()
		if err != nil || len(p.Arg(1)) != len(benchLarge) {
			b.Fatal(p, err)
		}
	}
}

// BenchmarkDecodeLargeStream decodes a 1 MiB WORK_DATA with
// Reader.NextHeader, copying its data through a fixed 64 KiB buffer.
func BenchmarkDecodeLargeStream(b *testing.B) {
	pkt, _ := wire.AppendPacket(nil, wire.Res, wire.WorkData, benchHandle, benchLarge)
	r := wire.NewReader(&repeater{pattern: pkt})
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.NextHeader(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			k, err := r.Data().Read(buf)
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != len(benchLarge) {
			b.Fatalf("read %d data bytes; want %d", n, len(benchLarge))
		}
	}
}
