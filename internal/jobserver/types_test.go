package jobserver

import (
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

// TestSubmitTypesMatchWire walks every packet type: the server's view of
// which submit carries its job inline, at which queue and whether in the
// background, is wire's.
func TestSubmitTypesMatchWire(t *testing.T) {
	queue := map[wire.Priority]int{wire.PriorityHigh: prioHigh, wire.PriorityNormal: prioNormal, wire.PriorityLow: prioLow}
	for typ := wire.Type(0); typ <= wire.MaxExtType; typ++ {
		if got, want := inlineSubmit(typ), typ.IsSubmit() && typ.NArgs() >= 3 && typ != wire.SubmitStream; got != want {
			t.Errorf("inlineSubmit(%v) = %v, want %v", typ, got, want)
		}
		if !typ.IsSubmit() {
			continue
		}
		prio, bg := submitKind(typ)
		if prio != queue[typ.Priority()] || bg != typ.Background() {
			t.Errorf("submitKind(%v) = %d, %v; want %d, %v", typ, prio, bg, queue[typ.Priority()], typ.Background())
		}
	}
}
