package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

// fuzzMax keeps the fuzzer from spending its time allocating large bodies.
const fuzzMax = 64 << 10

func FuzzReader(f *testing.F) {
	for _, g := range goldens {
		f.Add([]byte(g.wire))
	}
	var all []byte
	for _, g := range goldens {
		all = append(all, g.wire...)
	}
	f.Add(append(all, "status\r\nworkers\n"...))
	f.Add([]byte("\x00RES\x00\x00\x00\x0e\x00\x00\x00\x09H:box:12\x00"))
	f.Add([]byte("\x00RES\x00\x00\x00\x1c\x00\x00\x13\x88H:1\x00" + strings.Repeat("d", 4996)))
	f.Add([]byte("\x00REQ\x00\x00\x00\x07\x00\x00\x00\x08upperabc"))
	f.Add([]byte("\x00REX\x00\x00\x00\x06\x00\x00\x00\x00"))
	f.Add([]byte("version\r\n\x00REQ\x00\x00\x00\x10\x00\x00\x00\x02\x00\x00.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := readAll(t, data, false, false)
		split := readAll(t, data, true, false)
		buffered := readAll(t, data, true, true)
		// Up to the first error of either, both ways give the same items.
		n := min(len(whole), len(split))
		if n > 0 && !reflect.DeepEqual(whole[:n], split[:n]) {
			t.Fatalf("Next gave %q; NextHeader gave %q", whole[:n], split[:n])
		}
		n = min(len(buffered), len(split))
		if n > 0 && !reflect.DeepEqual(buffered[:n], split[:n]) {
			t.Fatalf("Buffer then NextHeader gave %q; NextHeader gave %q", buffered[:n], split[:n])
		}
	})
}

// readAll reads data with Next, or with NextHeader and Data, checks every
// packet and error, and returns what it read. With buffer, it calls Buffer
// before every packet, and checks that a packet it reports whole is then
// read without reading the stream.
func readAll(t *testing.T, data []byte, split, buffer bool) []decoded {
	rc := &readCounter{r: bytes.NewReader(data)}
	r := wire.NewReaderSize(rc, 4096)
	r.SetMaxPacketSize(fuzzMax)
	var items []decoded
	for {
		var p wire.Packet
		var err error
		whole, calls := false, 0
		var peeked *decoded
		peekedLen := 0
		if buffer {
			whole, err = r.Buffer()
			calls = rc.calls
			if pp, n, ok := r.Peek(); ok {
				if !whole {
					t.Fatalf("Peek decoded %v that Buffer did not report whole", pp.Type)
				}
				d := decode(pp)
				peeked, peekedLen = &d, n
			}
		}
		if err != nil {
			// Buffer's errors are Next's: checked below.
		} else if split {
			p, err = r.NextHeader()
		} else {
			p, err = r.Next()
		}
		if err == io.EOF {
			return items
		}
		var dataErr error
		it := decode(p)
		if err == nil && split && p.Type.HasData() {
			var b bytes.Buffer
			if _, dataErr = io.Copy(&b, r.Data()); dataErr == nil {
				it.Args = append(it.Args, b.String())
			}
		}
		if err == nil {
			err = dataErr
		}
		if whole && rc.calls != calls {
			t.Fatalf("%v: read the stream after Buffer reported it whole", p.Type)
		}
		if peeked != nil {
			if err != nil {
				t.Fatalf("Peek decoded %v, NextHeader failed: %v", peeked.Type, err)
			}
			want := decode(p) // NextHeader's: the leading arguments
			if p.Type.HasData() {
				if dl := len(it.Args[len(it.Args)-1]); dl != peekedLen {
					t.Fatalf("%v: Peek gave %d data bytes, NextHeader %d", p.Type, peekedLen, dl)
				}
			}
			if !reflect.DeepEqual(*peeked, want) {
				t.Fatalf("Peek gave %q, NextHeader %q", *peeked, want)
			}
		}
		if err != nil {
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *wire.ProtocolError", err, err)
			}
			if pe.Offset < 0 || pe.Offset > int64(len(data)) {
				t.Fatalf("error %v: offset %d outside the %d-byte input", err, pe.Offset, len(data))
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("after %v, Next returned %v", err, err2)
			}
			return items
		}
		checkItem(t, p, it)
		items = append(items, it)
	}
}

// checkItem checks a decoded item's shape, and that encoding it again
// decodes to the same item.
func checkItem(t *testing.T, p wire.Packet, it decoded) {
	if p.Magic == wire.Text {
		if len(it.Args) != 1 || strings.Contains(it.Args[0], "\n") || strings.HasPrefix(it.Args[0], "\x00") {
			t.Fatalf("bad text line %q", it.Args)
		}
		return
	}
	if !p.Type.Valid() || (p.Magic != wire.Req && p.Magic != wire.Res) {
		t.Fatalf("decoded %v", p)
	}
	if len(it.Args) != p.Type.NArgs() {
		t.Fatalf("%v: %d args; want %d", p.Type, len(it.Args), p.Type.NArgs())
	}
	enc, err := wire.AppendPacket(nil, it.Magic, it.Type, byteArgs(it.Args)...)
	if err != nil {
		t.Fatalf("AppendPacket(%q): %v", it, err)
	}
	p2, err := wire.NewReader(bytes.NewReader(enc)).Next()
	if err != nil {
		t.Fatalf("decoding %q again: %v", enc, err)
	}
	if got := decode(p2); !reflect.DeepEqual(got, it) {
		t.Fatalf("decoded %q, encoded %q, decoded again %q", it, enc, got)
	}
}

func FuzzAdmin(f *testing.F) {
	for _, s := range []string{
		"OK", "OK 1.1.20+ds", "ERR UNKNOWN_COMMAND Unknown+server+commandbogus", "ERR UNKNOWN_JOB",
		"rev\t2\t1\t3", "rev\t1\t2\t3\t4", "H:vm:1\t0\t0\t1",
		"39 127.0.0.1 worker-A : tmo rev rev", "40 127.0.0.1 - :", "41 127.0.0.1 my worker : rev",
		"43 10.0.0.1 a :b : f:g", ".", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		check := func(what string, err error) {
			var re *wire.ReplyError
			if err != nil && !errors.Is(err, wire.ErrBadReply) && !errors.As(err, &re) {
				t.Fatalf("%s(%q): error %T %v wraps neither ErrBadReply nor *ReplyError", what, line, err, err)
			}
		}
		_, err := wire.ParseReply(line)
		check("ParseReply", err)
		s, err := wire.ParseStatus(line)
		check("ParseStatus", err)
		if err == nil && (strings.Contains(s.Function, "\t") || s.Queued < 0 || s.Running < 0 || s.Workers < 0) {
			t.Fatalf("ParseStatus(%q) = %+v", line, s)
		}
		ps, err := wire.ParsePriorityStatus(line)
		check("ParsePriorityStatus", err)
		if err == nil && (strings.Contains(ps.Function, "\t") || ps.High < 0 || ps.Normal < 0 || ps.Low < 0 || ps.Workers < 0) {
			t.Fatalf("ParsePriorityStatus(%q) = %+v", line, ps)
		}
		j, err := wire.ParseShowJobs(line)
		check("ParseShowJobs", err)
		if err == nil && (strings.Contains(j.Handle, "\t") || j.Retries < 0) {
			t.Fatalf("ParseShowJobs(%q) = %+v", line, j)
		}
		w, err := wire.ParseWorkers(line)
		check("ParseWorkers", err)
		if err == nil {
			if w.FD < -1 || strings.Contains(w.Addr, " ") {
				t.Fatalf("ParseWorkers(%q) = %+v", line, w)
			}
			for _, fn := range w.Functions {
				if fn == "" || strings.ContainsAny(fn, " \t") {
					t.Fatalf("ParseWorkers(%q) = %+v: bad function %q", line, w, fn)
				}
			}
		}
		wire.IsEnd(line)
	})
}
