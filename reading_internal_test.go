package gearman

import (
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

// TestCallerHandlesEveryType walks every packet type: each one a server
// sends must say which goroutine handles it, and no other may be listed.
func TestCallerHandlesEveryType(t *testing.T) {
	for typ := wire.Type(0); typ <= wire.MaxExtType; typ++ {
		fromServer := typ.Valid() && typ.Direction()&wire.ToClient != 0
		switch h := callerHandles[typ]; {
		case fromServer && h == unlisted:
			t.Errorf("%v, which a server sends, is not in callerHandles", typ)
		case !fromServer && h != unlisted:
			t.Errorf("%v, which a server never sends, is in callerHandles", typ)
		case h == ifRoom && !typ.HasData():
			t.Errorf("%v has no data for a task's buffer to take", typ)
		}
	}
}

// TestSubmitTypesMatchWire walks every plain submit type: a Job of its
// priority, in the background or not, goes as that type.
func TestSubmitTypesMatchWire(t *testing.T) {
	n := 0
	for typ := wire.Type(0); typ <= wire.MaxExtType; typ++ {
		if !typ.PlainSubmit() {
			continue
		}
		n++
		var p Priority
		for _, q := range []Priority{Normal, High, Low} {
			if q.wire() == typ.Priority() {
				p = q
			}
		}
		j := Job{Func: "f", Priority: p, Background: typ.Background()}
		if got, err := j.packetType(); err != nil || got != typ {
			t.Errorf("Job{Priority: %v, Background: %v} goes as %v, %v; want %v", p, typ.Background(), got, err, typ)
		}
	}
	if n != 6 {
		t.Errorf("%d plain submit types; want 6", n)
	}
	for _, q := range []Priority{Normal, High, Low} {
		if q.String() != q.wire().String() {
			t.Errorf("Priority %v is %v in wire", q, q.wire())
		}
	}
}
