package wire_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// recorder records a copy of each Write call's bytes, and where they were.
type recorder struct {
	writes [][]byte
	ptrs   []*byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	if len(p) > 0 {
		r.ptrs = append(r.ptrs, &p[0])
	}
	return len(p), nil
}

func (r *recorder) all() string {
	var b strings.Builder
	for _, w := range r.writes {
		b.Write(w)
	}
	return b.String()
}

func mustAppend(t *testing.T, m wire.Magic, typ wire.Type, args ...string) string {
	t.Helper()
	b, err := wire.AppendPacket(nil, m, typ, byteArgs(args)...)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWritePacketSmall(t *testing.T) {
	var rec recorder
	w := wire.NewWriter(&rec)
	for _, g := range goldens {
		if err := w.WritePacket(g.magic, g.typ, byteArgs(g.args)...); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
	}
	w.WriteString("status\r\n")
	w.Write([]byte("workers\n"))
	var want strings.Builder
	for _, g := range goldens {
		want.WriteString(g.wire)
	}
	want.WriteString("status\r\nworkers\n")
	if len(rec.writes) != 0 {
		t.Fatalf("%d writes before Flush; want 0", len(rec.writes))
	}
	if w.Buffered() != want.Len() {
		t.Errorf("Buffered() = %d; want %d", w.Buffered(), want.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 {
		t.Errorf("Flush made %d writes; want 1", len(rec.writes))
	}
	if got := rec.all(); got != want.String() {
		t.Errorf("got %q; want %q", got, want.String())
	}
	if w.Buffered() != 0 {
		t.Errorf("Buffered() = %d after Flush; want 0", w.Buffered())
	}
	if err := w.Flush(); err != nil || len(rec.writes) != 1 {
		t.Errorf("empty Flush: %v, %d writes; want nil, no write", err, len(rec.writes))
	}
}

func TestWritePacketLarge(t *testing.T) {
	for _, n := range []int{wire.LargeData - 1, wire.LargeData, 1 << 20} {
		var rec recorder
		w := wire.NewWriter(&rec)
		data := bytes.Repeat([]byte("d\x00"), n/2)
		data = append(data, make([]byte, n%2)...)
		w.WritePacket(wire.Req, wire.CanDo, []byte("before"))
		if err := w.WritePacket(wire.Res, wire.WorkData, []byte("H:box:1"), data); err != nil {
			t.Fatal(err)
		}
		large := n >= wire.LargeData
		if got := w.Buffered() == 0; got != large {
			t.Errorf("%d bytes: written at once is %v; want %v", n, got, large)
		}
		w.WritePacket(wire.Req, wire.CanDo, []byte("after"))
		w.Flush()
		want := mustAppend(t, wire.Req, wire.CanDo, "before") +
			mustAppend(t, wire.Res, wire.WorkData, "H:box:1", string(data)) +
			mustAppend(t, wire.Req, wire.CanDo, "after")
		if got := rec.all(); got != want {
			t.Errorf("%d bytes: output differs from AppendPacket's (%d bytes; want %d)", n, len(got), len(want))
		}
		if large {
			// The data went out from the caller's slice, not a copy.
			found := false
			for i, b := range rec.writes {
				if len(b) == len(data) && rec.ptrs[i] == &data[0] {
					found = true
				}
			}
			if !found {
				t.Errorf("%d bytes: the data was copied; want it written from the caller's slice", n)
			}
		}
	}
}

// TestWritePacketLargeConn checks the vectored write on a real TCP
// connection (writev), with packets buffered before it.
func TestWritePacketLargeConn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := wire.NewWriter(c)
	data := bytes.Repeat([]byte("0123456789"), 100000)
	w.WritePacket(wire.Req, wire.SubmitJob, []byte("f"), []byte("u"), []byte("small"))
	if err := w.WritePacket(wire.Req, wire.SubmitJob, []byte("f"), []byte("u"), data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := mustAppend(t, wire.Req, wire.SubmitJob, "f", "u", "small") + mustAppend(t, wire.Req, wire.SubmitJob, "f", "u", string(data))
	if b := <-got; string(b) != want {
		t.Errorf("the peer got %d bytes, not the %d bytes AppendPacket gives", len(b), len(want))
	}
}

func TestWritePacketErrors(t *testing.T) {
	big := make([]byte, wire.LargeData)
	tests := []struct {
		name  string
		magic wire.Magic
		typ   wire.Type
		args  [][]byte
		want  error
	}{
		{"small, arg count", wire.Req, wire.SubmitJob, byteArgs([]string{"f", "d"}), wire.ErrArgCount},
		{"small, NUL", wire.Req, wire.SubmitJob, byteArgs([]string{"f\x00", "u", "d"}), wire.ErrArgCount},
		{"large, arg count", wire.Req, wire.SubmitJob, [][]byte{[]byte("f"), big}, wire.ErrArgCount},
		{"large, too many args", wire.Req, wire.SubmitJob, [][]byte{nil, nil, nil, nil, nil, nil, nil, nil, big}, wire.ErrArgCount},
		{"large, NUL", wire.Req, wire.SubmitJob, [][]byte{[]byte("f"), []byte("u\x00"), big}, wire.ErrArgCount},
		{"large, unknown type", wire.Req, 5, [][]byte{big}, wire.ErrUnknownType},
		{"large, bad magic", wire.Text, wire.EchoReq, [][]byte{big}, wire.ErrBadMagic},
		{"zero-arg type given none", wire.Req, wire.Type(43), nil, wire.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			w := wire.NewWriter(&rec)
			w.WriteString("x")
			err := w.WritePacket(tt.magic, tt.typ, tt.args...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			if w.Buffered() != 1 || len(rec.writes) != 0 {
				t.Errorf("buffered %d bytes, %d writes; want the buffer untouched", w.Buffered(), len(rec.writes))
			}
		})
	}
}

func TestWriteFrom(t *testing.T) {
	data := strings.Repeat("a\x00b", 50000)
	tests := []struct {
		name string
		typ  wire.Type
		lead []string
	}{
		{"WORK_DATA", wire.WorkData, []string{"H:box:1"}},
		{"ECHO_REQ", wire.EchoReq, nil},
		{"SUBMIT_JOB with empty unique", wire.SubmitJob, []string{"f", ""}},
		{"SUBMIT_JOB_SCHED", wire.SubmitJobSched, []string{"f", "u", "1", "2", "3", "4", "5"}},
	}
	for _, tt := range tests {
		for _, n := range []int{0, 1, len(data)} {
			var rec recorder
			w := wire.NewWriter(&rec)
			w.WritePacket(wire.Res, wire.Noop)
			err := w.WriteFrom(wire.Req, tt.typ, byteArgs(tt.lead), int64(n), iotest.HalfReader(strings.NewReader(data)))
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", tt.name, n, err)
			}
			if w.Buffered() != 0 {
				t.Errorf("%s, %d bytes: Buffered() = %d; want 0", tt.name, n, w.Buffered())
			}
			want := mustAppend(t, wire.Res, wire.Noop) + mustAppend(t, wire.Req, tt.typ, append(tt.lead, data[:n])...)
			if got := rec.all(); got != want {
				t.Errorf("%s, %d bytes: output differs from AppendPacket's (%d bytes; want %d)", tt.name, n, len(got), len(want))
			}
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestWriteFromErrors(t *testing.T) {
	errRead := errors.New("read failed")
	tests := []struct {
		name    string
		typ     wire.Type
		lead    []string
		n       int64
		r       io.Reader
		want    error
		written bool // whether the header went out
	}{
		{"short reader", wire.WorkData, []string{"h"}, 10, strings.NewReader("12345"), wire.ErrShortData, true},
		{"empty reader", wire.WorkData, []string{"h"}, 10, strings.NewReader(""), wire.ErrShortData, true},
		{"reader error", wire.WorkData, []string{"h"}, 10, iotest.ErrReader(errRead), errRead, true},
		{"type without data", wire.CanDo, nil, 3, strings.NewReader("abc"), wire.ErrArgCount, false},
		{"zero-arg type", wire.Noop, nil, 0, strings.NewReader(""), wire.ErrArgCount, false},
		{"unknown type", 5, nil, 3, strings.NewReader("abc"), wire.ErrUnknownType, false},
		{"unknown type 0", 0, nil, 3, strings.NewReader("abc"), wire.ErrUnknownType, false},
		{"too few leading args", wire.SubmitJob, []string{"f"}, 3, strings.NewReader("abc"), wire.ErrArgCount, false},
		{"too many leading args", wire.SubmitJob, []string{"f", "u", "x"}, 3, strings.NewReader("abc"), wire.ErrArgCount, false},
		{"far too many leading args", wire.SubmitJob, make([]string, 9), 3, strings.NewReader("abc"), wire.ErrArgCount, false},
		{"NUL in a leading arg", wire.SubmitJob, []string{"f", "u\x00"}, 3, strings.NewReader("abc"), wire.ErrArgCount, false},
		{"negative length", wire.WorkData, []string{"h"}, -1, strings.NewReader(""), wire.ErrTooLarge, false},
		// A body one byte over the 32-bit length field: "h", NUL, data.
		{"body over 4 GiB", wire.WorkData, []string{"h"}, math.MaxUint32 - 1, strings.NewReader(""), wire.ErrTooLarge, false},
		{"data over 4 GiB", wire.EchoReq, nil, math.MaxUint32 + 1, strings.NewReader(""), wire.ErrTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			w := wire.NewWriter(&rec)
			err := w.WriteFrom(wire.Req, tt.typ, byteArgs(tt.lead), tt.n, tt.r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			if got := len(rec.writes) > 0; got != tt.written {
				t.Errorf("wrote %q; want a header written %v", rec.all(), tt.written)
			}
			if w.Buffered() != 0 {
				t.Errorf("Buffered() = %d; want 0", w.Buffered())
			}
		})
	}
}

// TestWriteFromMaxLength declares the largest body the length field holds
// and stops after the header: no 4 GiB is needed to check it.
func TestWriteFromMaxLength(t *testing.T) {
	errRead := errors.New("read failed")
	var rec recorder
	w := wire.NewWriter(&rec)
	err := w.WriteFrom(wire.Res, wire.WorkData, [][]byte{[]byte("h")}, math.MaxUint32-2, iotest.ErrReader(errRead))
	if !errors.Is(err, errRead) {
		t.Fatalf("got %v; want %v", err, errRead)
	}
	want := "\x00RES\x00\x00\x00\x1c\xff\xff\xff\xffh\x00"
	if got := rec.all(); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestWriterFlushError(t *testing.T) {
	errWrite := errors.New("write failed")
	w := wire.NewWriter(failWriter{errWrite})
	w.WritePacket(wire.Req, wire.GrabJob)
	if err := w.Flush(); !errors.Is(err, errWrite) {
		t.Errorf("Flush: got %v; want %v", err, errWrite)
	}
	w.WritePacket(wire.Req, wire.GrabJob)
	if err := w.WriteFrom(wire.Req, wire.EchoReq, nil, 1, strings.NewReader("x")); !errors.Is(err, errWrite) {
		t.Errorf("WriteFrom: got %v; want %v", err, errWrite)
	}
	if err := w.WritePacket(wire.Req, wire.EchoReq, make([]byte, wire.LargeData)); !errors.Is(err, errWrite) {
		t.Errorf("large WritePacket: got %v; want %v", err, errWrite)
	}
}

func TestWriterAllocs(t *testing.T) {
	w := wire.NewWriter(io.Discard)
	small, large := []byte("small"), make([]byte, wire.LargeData)
	h := []byte("H:box:1")
	allocs := testing.AllocsPerRun(100, func() {
		w.WritePacket(wire.Res, wire.WorkData, h, small)
		w.WritePacket(wire.Res, wire.WorkData, h, large)
		w.WritePacket(wire.Res, wire.WorkComplete, h, small)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Writer allocates %.1f times per round; want 0", allocs)
	}
}

func TestAppendLeading(t *testing.T) {
	lead := [][]byte{[]byte("H:1")}
	got, err := wire.AppendLeading(nil, wire.Req, wire.WorkData, lead, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := "\x00REQ\x00\x00\x00\x1c\x00\x00\x00\x07H:1\x00"
	if string(got) != want {
		t.Errorf("got %q; want %q", got, want)
	}
	for _, tc := range []struct {
		name string
		t    wire.Type
		lead [][]byte
		n    int64
		want error
	}{
		{"no data", wire.WorkFail, nil, 1, wire.ErrArgCount},
		{"unknown type", 99, nil, 1, wire.ErrUnknownType},
		{"negative", wire.WorkData, lead, -1, wire.ErrTooLarge},
		{"too few args", wire.SubmitJob, lead, 1, wire.ErrArgCount},
		{"NUL in leading", wire.WorkData, [][]byte{[]byte("a\x00b")}, 1, wire.ErrArgCount},
		{"too long", wire.WorkData, lead, 1 << 32, wire.ErrTooLarge},
	} {
		if _, err := wire.AppendLeading(nil, wire.Req, tc.t, tc.lead, tc.n); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v; want %v", tc.name, err, tc.want)
		}
	}
}
