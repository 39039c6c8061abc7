package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seed749d6d6d/gearman/wire"
)

// item is one thing on a stream: a text line (Magic Text, the line in Args[0])
// or a binary packet.
type item = decoded

// stream is a mix of admin lines and packets, small and larger than the
// 4096-byte buffer the tests give their readers, with its wire form.
func stream(t *testing.T) ([]item, []byte) {
	t.Helper()
	big := strings.Repeat("x\x00y", 7000)            // 21000 bytes, NULs inside
	huge := strings.Repeat("0123456789abcdef", 5000) // 80000 bytes: ≥ LargeData
	items := []item{
		{wire.Text, 0, []string{"status"}},
		{wire.Req, wire.SubmitJob, []string{"upper", "u7", "a\x00b"}},
		{wire.Text, 0, []string{"version"}},
		{wire.Res, wire.Noop, nil},
		{wire.Text, 0, []string{""}},
		{wire.Res, wire.WorkData, []string{"H:box:1", big}},
		{wire.Res, wire.JobAssignUniq, []string{"H:box:2", "upper", "", ""}},
		{wire.Text, 0, []string{"workers"}},
		{wire.Req, wire.EchoReq, []string{huge}},
		{wire.Req, wire.WorkStatus, []string{"H:box:1", "1", "2"}},
		{wire.Res, wire.EchoRes, []string{""}},
		{wire.Req, wire.SubmitJobSched, []string{"f", "u", "1", "2", "3", "4", "5", big}},
		{wire.Text, 0, []string{"a line with \x00 and \r inside"}},
	}
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	for i, it := range items {
		if it.Magic == wire.Text {
			// Alternate the two line endings.
			end := "\n"
			if i%2 == 0 {
				end = "\r\n"
			}
			w.WriteString(it.Args[0] + end)
			continue
		}
		if err := w.WritePacket(it.Magic, it.Type, byteArgs(it.Args)...); err != nil {
			t.Fatalf("WritePacket %v: %v", it.Type, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return items, buf.Bytes()
}

// readers wraps a stream in the readers of testing/iotest.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"OneByteReader", iotest.OneByteReader},
	{"HalfReader", iotest.HalfReader},
	{"DataErrReader", iotest.DataErrReader},
}

func TestRoundTripNext(t *testing.T) {
	want, data := stream(t)
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			r := wire.NewReaderSize(rd.wrap(bytes.NewReader(data)), 4096)
			var got []item
			for {
				p, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next after %d items: %v", len(got), err)
				}
				got = append(got, decode(p))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("items mismatch (-want +got):\n%s", diff)
			}
			if r.Offset() != int64(len(data)) {
				t.Errorf("Offset() = %d; want %d", r.Offset(), len(data))
			}
		})
	}
}

func TestRoundTripNextHeader(t *testing.T) {
	want, data := stream(t)
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			r := wire.NewReaderSize(rd.wrap(bytes.NewReader(data)), 4096)
			var got []item
			for {
				p, err := r.NextHeader()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("NextHeader after %d items: %v", len(got), err)
				}
				it := decode(p)
				if p.Type.HasData() {
					if n := len(p.Args); n != p.Type.NArgs()-1 {
						t.Fatalf("%v: %d leading args; want %d", p.Type, n, p.Type.NArgs()-1)
					}
					size := r.DataLen()
					// Read through a small buffer, so that data longer than
					// the reader's buffer streams.
					var b bytes.Buffer
					n, err := io.CopyBuffer(&b, struct{ io.Reader }{r.Data()}, make([]byte, 1000))
					if err != nil {
						t.Fatalf("%v data: %v", p.Type, err)
					}
					if n != size {
						t.Errorf("%v: read %d data bytes; DataLen said %d", p.Type, n, size)
					}
					if r.DataLen() != 0 {
						t.Errorf("%v: DataLen() = %d after the data; want 0", p.Type, r.DataLen())
					}
					it.Args = append(it.Args, b.String())
				} else if r.DataLen() != 0 {
					t.Errorf("%v: DataLen() = %d; want 0", p.Type, r.DataLen())
				}
				got = append(got, it)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("items mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNextHeaderSkip leaves data unread, whole or in part, and checks the
// next call skips it, with NextHeader and with Next.
func TestNextHeaderSkip(t *testing.T) {
	want, data := stream(t)
	for _, readFirst := range []int{0, 1, 5000} {
		for _, method := range []string{"Next", "NextHeader"} {
			r := wire.NewReaderSize(bytes.NewReader(data), 4096)
			var got []item
			for {
				p, err := r.NextHeader()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("NextHeader: %v", err)
				}
				if p.Type.HasData() {
					n, _ := io.CopyN(io.Discard, r.Data(), int64(readFirst))
					if left := r.DataLen(); n > 0 && left != int64(len(want[len(got)].Args[len(p.Args)]))-n {
						t.Errorf("DataLen() = %d after reading %d bytes", left, n)
					}
				}
				got = append(got, decode(p))
				if method == "Next" {
					// Read the following item with Next, skipping the data.
					p, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					got = append(got, decode(p))
				}
			}
			// Compare everything but the data arguments.
			trimmed := append([]item(nil), want...)
			for i, it := range got {
				if it.Type.HasData() && len(it.Args) < len(trimmed[i].Args) {
					trimmed[i].Args = trimmed[i].Args[:len(it.Args)]
				}
			}
			if diff := cmp.Diff(trimmed, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("readFirst %d, %s: items mismatch (-want +got):\n%s", readFirst, method, diff)
			}
		}
	}
}

func TestDataAfterNext(t *testing.T) {
	r := wire.NewReader(strings.NewReader(goldens[5].wire)) // SUBMIT_JOB
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.DataLen() != 0 {
		t.Errorf("DataLen() = %d after Next; want 0", r.DataLen())
	}
	if n, err := r.Data().Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Data().Read = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestNextBigBuffer reads packets larger than the reader's buffer, growing
// and then reusing its big buffer, and one that shrinks back.
func TestNextBigBuffer(t *testing.T) {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	sizes := []int{3 << 20, 10000, 3 << 20, 4096 - 12, 4096 - 11, 4096, 1}
	for i, n := range sizes {
		w.WritePacket(wire.Res, wire.EchoRes, bytes.Repeat([]byte{byte(i)}, n))
	}
	w.Flush()
	r := wire.NewReaderSize(&buf, 4096)
	for i, n := range sizes {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(p.Arg(0), bytes.Repeat([]byte{byte(i)}, n)) {
			t.Errorf("packet %d: got %d bytes, not %d bytes of %d", i, len(p.Arg(0)), n, i)
		}
	}
}

func TestBuffered(t *testing.T) {
	r := wire.NewReader(strings.NewReader(goldens[0].wire + goldens[1].wire))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Buffered(), len(goldens[1].wire); got != want {
		t.Errorf("Buffered() = %d; want %d", got, want)
	}
}

func TestCleanEOF(t *testing.T) {
	for _, input := range []string{"", goldens[0].wire, "status\n", goldens[5].wire + "version\r\n"} {
		for _, method := range []string{"Next", "NextHeader"} {
			r := wire.NewReader(strings.NewReader(input))
			var err error
			for err == nil {
				if method == "Next" {
					_, err = r.Next()
				} else {
					_, err = r.NextHeader()
					io.Copy(io.Discard, r.Data())
				}
			}
			if err != io.EOF {
				t.Errorf("%s on %q: got %v; want plain io.EOF", method, input, err)
			}
			// And again: still io.EOF.
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("%s on %q: second call got %v; want io.EOF", method, input, err)
			}
		}
	}
}

const noop = "\x00RES\x00\x00\x00\x06\x00\x00\x00\x00" // 12 bytes before every bad packet

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		size    int   // buffer size; 0 means 4096
		max     int64 // SetMaxPacketSize; 0 means the default
		methods []string
		want    error
		typ     wire.Type
		offset  int64
	}{
		{
			name:  "bad magic",
			input: noop + "\x00REX\x00\x00\x00\x06\x00\x00\x00\x00",
			want:  wire.ErrBadMagic, offset: 12,
		},
		{
			name:  "bad magic with a letter missing",
			input: noop + "\x00RE\x00\x00\x00\x00\x06\x00\x00\x00\x00",
			want:  wire.ErrBadMagic, offset: 12,
		},
		{
			name:  "type 0",
			input: noop + "\x00REQ\x00\x00\x00\x00\x00\x00\x00\x00",
			want:  wire.ErrUnknownType, offset: 12,
		},
		{
			name:  "type 5",
			input: noop + "\x00REQ\x00\x00\x00\x05\x00\x00\x00\x00",
			want:  wire.ErrUnknownType, offset: 12,
		},
		{
			name:  "type 43",
			input: noop + "\x00RES\x00\x00\x00\x2b\x00\x00\x00\x00",
			want:  wire.ErrUnknownType, offset: 12,
		},
		{
			name:  "type 0xFFFFFFFF",
			input: noop + "\x00RES\xff\xff\xff\xff\x00\x00\x00\x00",
			want:  wire.ErrUnknownType, offset: 12,
		},
		{
			name:  "body over the limit",
			input: noop + "\x00REQ\x00\x00\x00\x01\x00\x00\x00\x05upper",
			max:   4,
			want:  wire.ErrTooLarge, typ: wire.CanDo, offset: 12,
		},
		{
			name:    "body over the default limit",
			input:   noop + "\x00RES\x00\x00\x00\x11\x04\x00\x00\x01",
			methods: []string{"Next"},
			want:    wire.ErrTooLarge, typ: wire.EchoRes, offset: 12,
		},
		{
			name:  "leading arguments over the buffer",
			input: noop + "\x00REQ\x00\x00\x00\x07\x00\x00\x13\x88" + strings.Repeat("f", 5000),
			max:   100,
			want:  wire.ErrTooLarge, typ: wire.SubmitJob, offset: 12,
		},
		{
			name:  "too few NULs",
			input: noop + "\x00REQ\x00\x00\x00\x07\x00\x00\x00\x08upperabc",
			want:  wire.ErrArgCount, typ: wire.SubmitJob, offset: 12,
		},
		{
			name:  "one NUL of two",
			input: noop + "\x00REQ\x00\x00\x00\x07\x00\x00\x00\x09upper\x00abc",
			want:  wire.ErrArgCount, typ: wire.SubmitJob, offset: 12,
		},
		{
			name:  "too few NULs in a body larger than the buffer",
			input: noop + "\x00RES\x00\x00\x00\x14\x00\x00\x13\x88" + strings.Repeat("\x00", 3) + strings.Repeat("h", 4997),
			want:  wire.ErrArgCount, typ: wire.StatusRes, offset: 12,
		},
		{
			name:  "body on a zero-arg type",
			input: noop + "\x00RES\x00\x00\x00\x06\x00\x00\x00\x01x",
			want:  wire.ErrArgCount, typ: wire.Noop, offset: 12,
		},
		{
			name:  "truncated header",
			input: noop + "\x00RES\x00\x00\x00\x06\x00\x00",
			want:  io.ErrUnexpectedEOF, offset: 12,
		},
		{
			name:  "truncated magic",
			input: noop + "\x00",
			want:  io.ErrUnexpectedEOF, offset: 12,
		},
		{
			name:  "truncated body",
			input: noop + "\x00REQ\x00\x00\x00\x0f\x00\x00\x00\x08H:b",
			want:  io.ErrUnexpectedEOF, typ: wire.GetStatus, offset: 12,
		},
		{
			name:  "truncated leading arguments",
			input: noop + "\x00REQ\x00\x00\x00\x07\x00\x00\x00\x0cupp",
			want:  io.ErrUnexpectedEOF, typ: wire.SubmitJob, offset: 12,
		},
		{
			name:    "truncated body larger than the buffer",
			input:   noop + "\x00REQ\x00\x00\x00\x07\x00\x00\x27\x10" + "f\x00u\x00" + strings.Repeat("d", 5000),
			methods: []string{"Next"},
			want:    io.ErrUnexpectedEOF, typ: wire.SubmitJob, offset: 12,
		},
		{
			name:  "text line longer than the buffer",
			input: noop + strings.Repeat("s", 5000) + "\n",
			want:  wire.ErrLineTooLong, offset: 12,
		},
		{
			name:  "text line cut by EOF",
			input: noop + "status\r",
			want:  io.ErrUnexpectedEOF, offset: 12,
		},
	}
	for _, tt := range tests {
		methods := tt.methods
		if methods == nil {
			methods = []string{"Next", "NextHeader"}
		}
		for _, method := range methods {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				size := tt.size
				if size == 0 {
					size = 4096
				}
				r := wire.NewReaderSize(strings.NewReader(tt.input), size)
				if tt.max != 0 {
					r.SetMaxPacketSize(tt.max)
				}
				call := r.Next
				if method == "NextHeader" {
					call = r.NextHeader
				}
				if p, err := call(); err != nil || p.Type != wire.Noop {
					t.Fatalf("first packet: %v, %v", p, err)
				}
				_, err := call()
				checkProtocolError(t, err, tt.want, tt.typ, tt.offset)
				// Sticky: the same error from every later call.
				if _, err2 := r.Next(); err2 != err {
					t.Errorf("second call got %v; want the same %v", err2, err)
				}
				if _, err2 := r.NextHeader(); err2 != err {
					t.Errorf("third call got %v; want the same %v", err2, err)
				}
			})
		}
	}
}

// TestDataErrors checks errors met while reading data left by NextHeader.
func TestDataErrors(t *testing.T) {
	// WORK_DATA with a 20-byte body of which 9 arrive: "H:box:12\0" and
	// nothing of its 11 data bytes but "abc".
	input := noop + "\x00RES\x00\x00\x00\x1c\x00\x00\x00\x14H:box:12\x00abc"
	t.Run("Data", func(t *testing.T) {
		r := wire.NewReader(strings.NewReader(input))
		r.NextHeader()
		p, err := r.NextHeader()
		if err != nil || string(p.Arg(0)) != "H:box:12" || r.DataLen() != 11 {
			t.Fatalf("got %v, %v, DataLen %d; want the WORK_DATA header, DataLen 11", p, err, r.DataLen())
		}
		got, err := io.ReadAll(r.Data())
		if string(got) != "abc" {
			t.Errorf("got data %q; want %q", got, "abc")
		}
		checkProtocolError(t, err, io.ErrUnexpectedEOF, wire.WorkData, 12)
		if _, err2 := r.Data().Read(make([]byte, 1)); err2 != err {
			t.Errorf("Data after the error got %v; want the same %v", err2, err)
		}
		if _, err2 := r.Next(); err2 != err {
			t.Errorf("Next after the error got %v; want the same %v", err2, err)
		}
	})
	t.Run("skipped", func(t *testing.T) {
		r := wire.NewReader(strings.NewReader(input))
		r.NextHeader()
		r.NextHeader()
		_, err := r.NextHeader()
		checkProtocolError(t, err, io.ErrUnexpectedEOF, wire.WorkData, 12)
		if _, err2 := r.Next(); err2 != err {
			t.Errorf("Next after the error got %v; want the same %v", err2, err)
		}
	})
}

func checkProtocolError(t *testing.T, err, want error, typ wire.Type, offset int64) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v; want %v", err, want)
	}
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %v; want a *wire.ProtocolError", err, err)
	}
	if pe.Offset != offset {
		t.Errorf("Offset = %d; want %d", pe.Offset, offset)
	}
	if pe.Type != typ {
		t.Errorf("Type = %v; want %v", pe.Type, typ)
	}
	if pe.Detail == "" {
		t.Errorf("Detail is empty")
	}
	if !strings.HasPrefix(err.Error(), "gearman/wire: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

var errTimeout = errors.New("timeout")

// hiccupReader returns errTimeout once, after its first cut bytes.
type hiccupReader struct {
	data []byte
	cut  int
	done bool
}

func (h *hiccupReader) Read(p []byte) (int, error) {
	if !h.done && h.cut == 0 {
		h.done = true
		return 0, errTimeout
	}
	if len(h.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if !h.done {
		n = min(n, h.cut)
		h.cut -= n
	}
	n = copy(p, h.data[:min(n, len(h.data))])
	h.data = h.data[n:]
	return n, nil
}

// writeGoldens writes every golden packet to w, flushes it, and returns
// what a reader decodes from them.
func writeGoldens(w *wire.Writer) []item {
	var want []item
	for _, g := range goldens {
		w.WritePacket(g.magic, g.typ, byteArgs(g.args)...)
		want = append(want, decoded{g.magic, g.typ, g.args})
	}
	w.Flush()
	return want
}

// TestReadErrorMidStream interrupts the stream with an error (such as a read
// deadline) at every byte and retries: the reader must either go on with
// nothing lost or keep returning the error, never misread the stream. Small
// binary packets must always survive.
func TestReadErrorMidStream(t *testing.T) {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	want := writeGoldens(w)
	binary := buf.Len()
	w.WriteString("status\n")
	w.WritePacket(wire.Res, wire.EchoRes, bytes.Repeat([]byte("e"), 5000))
	w.Flush()
	want = append(want, item{wire.Text, 0, []string{"status"}}, item{wire.Res, wire.EchoRes, []string{strings.Repeat("e", 5000)}})
	data := buf.Bytes()
	for _, method := range []string{"Next", "NextHeader"} {
		for cut := 0; cut <= len(data); cut++ {
			if cut > binary+100 && cut < len(data)-100 {
				cut += 36 // every byte of the data would be slow
			}
			r := wire.NewReaderSize(&hiccupReader{data: data, cut: cut}, 4096)
			var got []item
			timeouts := 0
			for {
				var p wire.Packet
				var err error
				if method == "Next" {
					p, err = r.Next()
				} else {
					p, err = r.NextHeader()
				}
				if err == io.EOF {
					break
				}
				if err == errTimeout {
					if timeouts++; timeouts > 1 {
						break // sticky
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s, cut at %d: %v", method, cut, err)
				}
				it := decode(p)
				if method == "NextHeader" && p.Type.HasData() {
					var b []byte
					for {
						chunk := make([]byte, 100)
						n, err := r.Data().Read(chunk)
						b = append(b, chunk[:n]...)
						if err == io.EOF {
							break
						}
						if err == errTimeout && timeouts == 0 {
							timeouts++
							continue
						}
						if err != nil {
							t.Fatalf("%s, cut at %d: data: %v", method, cut, err)
						}
					}
					it.Args = append(it.Args, string(b))
				}
				got = append(got, it)
			}
			if timeouts > 1 {
				if cut < binary {
					t.Errorf("%s, cut at %d: a read error in a small packet stuck", method, cut)
				}
				want := want[:len(got)]
				if reflect.DeepEqual(want, got) {
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s, cut at %d (sticky): items mismatch (-want +got):\n%s", method, cut, diff)
				}
				continue
			}
			if reflect.DeepEqual(want, got) {
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s, cut at %d: items mismatch (-want +got):\n%s", method, cut, diff)
			}
		}
	}
}

// repeater reads a byte pattern over and over, forever.
type repeater struct {
	pattern []byte
	off     int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.pattern[r.off:])
		n += k
		r.off = (r.off + k) % len(r.pattern)
	}
	return n, nil
}

func TestNextAllocs(t *testing.T) {
	var pattern []byte
	for _, g := range goldens {
		pattern = append(pattern, g.wire...)
	}
	pattern = append(pattern, "status\r\n"...)
	n := len(goldens) + 1
	var b [16]byte // outside the closure: an interface call's argument escapes
	tests := []struct {
		name string
		next func(*wire.Reader) (wire.Packet, error)
	}{
		{"Next", (*wire.Reader).Next},
		{"NextHeader", func(r *wire.Reader) (wire.Packet, error) {
			p, err := r.NextHeader()
			if err == nil && p.Type.HasData() {
				// Drain the data through a fixed buffer.
				for r.DataLen() > 0 {
					r.Data().Read(b[:])
				}
			}
			return p, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wire.NewReader(&repeater{pattern: pattern})
			// Warm up: the first NextHeader grows its copy of leading args.
			for range n {
				if _, err := tt.next(r); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(100, func() {
				for range n {
					if _, err := tt.next(r); err != nil {
						t.Fatal(err)
					}
				}
			})
			if allocs != 0 {
				t.Errorf("%s allocates %.1f times per %d packets; want 0", tt.name, allocs, n)
			}
		})
	}
}

func TestAppendPacketAllocs(t *testing.T) {
	dst := make([]byte, 0, 1024)
	fn, uniq, data := []byte("upper"), []byte("u7"), bytes.Repeat([]byte("d"), 64)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		dst, err = wire.AppendPacket(dst[:0], wire.Req, wire.SubmitJob, fn, uniq, data)
		if err != nil {
			t.Fatal(err)
		}
		dst, err = wire.AppendPacket(dst, wire.Res, wire.Noop)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendPacket allocates %.1f times; want 0", allocs)
	}
}

// Keep hands over a large body's memory: the next large packet does not
// overwrite the kept arguments. A small body is not kept.
func TestReaderKeep(t *testing.T) {
	big1 := bytes.Repeat([]byte("a"), 10000)
	big2 := bytes.Repeat([]byte("b"), 10000)
	var stream []byte
	for _, d := range [][]byte{big1, []byte("small"), big2} {
		var err error
		stream, err = wire.AppendPacket(stream, wire.Res, wire.WorkData, []byte("H:1"), d)
		if err != nil {
			t.Fatal(err)
		}
	}
	r := wire.NewReaderSize(bytes.NewReader(stream), 4096)
	p1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	d1 := p1.Args[1] // Args itself is reused by the next call
	if !r.Keep() {
		t.Fatal("Keep of a body larger than the buffer = false")
	}
	if r.Keep() {
		t.Error("second Keep of the same packet = true")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Keep() {
		t.Error("Keep of a small body = true")
	}
	p3, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d1, big1) {
		t.Errorf("kept data changed after the next large packet")
	}
	if !bytes.Equal(p3.Args[1], big2) {
		t.Errorf("third packet's data wrong")
	}
}

// A body a little over 1 MiB (a 1 MiB payload and its header arguments) is
// read into one allocation of about its size, not grown by 1 MiB and then
// again (to 2 MiB) for the rest.
func TestReaderBigBodyOneAllocation(t *testing.T) {
	if raceEnabled {
		// Built for the race detector, slices.Grow allocates the grown
		// part twice: the measure would say nothing about the reader.
		t.Skip("allocation sizes differ under the race detector")
	}
	pkt, err := wire.AppendPacket(nil, wire.Req, wire.SubmitJob, []byte("fn"), []byte("unique"), bytes.Repeat([]byte("x"), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	r := wire.NewReader(bytes.NewReader(bytes.Repeat(pkt, n+1)))
	if _, err := r.Next(); err != nil { // warm up the reader's small buffers
		t.Fatal(err)
	}
	r.Keep()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		r.Keep() // the next body needs memory of its own
	}
	runtime.ReadMemStats(&after)
	perBody := float64(after.TotalAlloc-before.TotalAlloc) / n
	if limit := float64(len(pkt)) * 1.25; perBody > limit {
		t.Errorf("%.0f bytes allocated per kept body of %d bytes; want at most %.0f", perBody, len(pkt)-wire.HeaderSize, limit)
	}
}
