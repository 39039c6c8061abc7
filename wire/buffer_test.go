package wire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman/wire"
)

// readCounter counts the Read calls that reach the stream.
type readCounter struct {
	r     io.Reader
	calls int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.calls++
	return c.r.Read(p)
}

// TestBufferResumes interrupts the stream with an error (such as a read
// deadline) at every byte: Buffer returns it, consumes nothing, and a later
// call goes on; once it reports a packet whole, NextHeader and its data read
// nothing more from the stream, and data left unread is skipped.
func TestBufferResumes(t *testing.T) {
	var buf bytes.Buffer
	want := writeGoldens(wire.NewWriter(&buf))
	data := buf.Bytes()
	for cut := 0; cut <= len(data); cut++ {
		rc := &readCounter{r: &hiccupReader{data: data, cut: cut}}
		r := wire.NewReaderSize(rc, 4096)
		var got []item
		timeouts := 0
		for i := 0; ; i++ {
			whole, err := r.Buffer()
			if errors.Is(err, errTimeout) {
				if timeouts++; timeouts > 1 {
					t.Fatalf("cut at %d: the timeout came back", cut)
				}
				whole, err = r.Buffer()
			}
			if err == io.EOF {
				break
			}
			if err != nil || !whole {
				t.Fatalf("cut at %d, packet %d: Buffer() = %v, %v; want true", cut, i, whole, err)
			}
			calls := rc.calls
			p, err := r.NextHeader()
			if err != nil {
				t.Fatalf("cut at %d, packet %d: %v", cut, i, err)
			}
			it := decode(p)
			if p.Type.HasData() {
				if i%2 == 1 {
					it.Args = append(it.Args, "(skipped)")
				} else {
					b, err := io.ReadAll(r.Data())
					if err != nil {
						t.Fatalf("cut at %d, packet %d: data: %v", cut, i, err)
					}
					it.Args = append(it.Args, string(b))
				}
			}
			if rc.calls != calls {
				t.Fatalf("cut at %d, packet %d: read the stream after Buffer", cut, i)
			}
			got = append(got, it)
		}
		if cut < len(data) && timeouts != 1 {
			t.Fatalf("cut at %d: %d timeouts; want 1", cut, timeouts)
		}
		wantHere := make([]item, len(want))
		for i, it := range want {
			wantHere[i] = it
			if i%2 == 1 && it.Type.HasData() {
				args := append([]string(nil), it.Args[:len(it.Args)-1]...)
				wantHere[i].Args = append(args, "(skipped)")
			}
		}
		if diff := cmp.Diff(wantHere, got); diff != "" {
			t.Fatalf("cut at %d: items mismatch (-want +got):\n%s", cut, diff)
		}
	}
}

// Buffer reports false, and reads no further, for a packet larger than the
// buffer and for an admin text line: Next then reads them as always.
func TestBufferLargeAndText(t *testing.T) {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	big := strings.Repeat("e", 5000)
	w.WritePacket(wire.Res, wire.EchoRes, []byte(big))
	w.WriteString("OK\n")
	w.Flush()
	r := wire.NewReaderSize(&buf, 4096)
	for _, wantItem := range []item{{wire.Res, wire.EchoRes, []string{big}}, {wire.Text, 0, []string{"OK"}}} {
		if whole, err := r.Buffer(); whole || err != nil {
			t.Fatalf("Buffer() = %v, %v before %v; want false", whole, err, wantItem.Type)
		}
		p, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantItem, decode(p)); diff != "" {
			t.Fatalf("mismatch (-want +got):\n%s", diff)
		}
	}
	if _, err := r.Buffer(); err != io.EOF {
		t.Fatalf("Buffer() at the end: %v; want io.EOF", err)
	}
}
