package gearman

import (
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

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

// MaxUniqueLen, which the package declares for its users, is wire's.
func TestMaxUniqueLenMatchesWire(t *testing.T) {
	if MaxUniqueLen != wire.MaxUnique {
		t.Errorf("MaxUniqueLen = %d, wire.MaxUnique = %d", MaxUniqueLen, wire.MaxUnique)
	}
}
