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
