package wire_test

import (
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

// allTypes returns every valid packet type.
func allTypes() []wire.Type {
	var ts []wire.Type
	for t := wire.Type(0); t <= wire.MaxExtType; t++ {
		if t.Valid() {
			ts = append(ts, t)
		}
	}
	return ts
}

// TestTypeTableByName checks the table's submit, background, priority and
// grab columns against what the protocol's names say, type by type.
func TestTypeTableByName(t *testing.T) {
	for _, typ := range allTypes() {
		n := typ.String()
		submit := strings.HasPrefix(n, "SUBMIT_")
		if typ.IsSubmit() != submit {
			t.Errorf("%v.IsSubmit() = %v", typ, typ.IsSubmit())
		}
		plain := submit && !strings.Contains(n, "EPOCH") && !strings.Contains(n, "SCHED") &&
			!strings.Contains(n, "REDUCE") && typ != wire.SubmitStream
		if typ.PlainSubmit() != plain {
			t.Errorf("%v.PlainSubmit() = %v", typ, typ.PlainSubmit())
		}
		if plain && typ.NArgs() != 3 {
			t.Errorf("plain submit %v has %d arguments", typ, typ.NArgs())
		}
		bg := strings.HasSuffix(n, "_BG") || strings.HasSuffix(n, "_BACKGROUND") ||
			typ == wire.SubmitJobEpoch || typ == wire.SubmitJobSched
		if typ.Background() != bg {
			t.Errorf("%v.Background() = %v", typ, typ.Background())
		}
		prio := wire.PriorityNormal
		switch {
		case submit && strings.Contains(n, "_HIGH"):
			prio = wire.PriorityHigh
		case submit && strings.Contains(n, "_LOW"):
			prio = wire.PriorityLow
		}
		if typ.Priority() != prio {
			t.Errorf("%v.Priority() = %v, want %v", typ, typ.Priority(), prio)
		}
		if plain {
			if got := wire.SubmitType(typ.Priority(), typ.Background()); got != typ {
				t.Errorf("SubmitType(%v, %v) = %v, want %v", typ.Priority(), typ.Background(), got, typ)
			}
		}
		if typ.IsGrab() != strings.HasPrefix(n, "GRAB_JOB") {
			t.Errorf("%v.IsGrab() = %v", typ, typ.IsGrab())
		}
	}
	if got := wire.SubmitType(wire.Priority(9), false); got.Valid() {
		t.Errorf("SubmitType of an unknown priority = %v", got)
	}
}

// TestTypeTableAnswers checks which reply answers which request, for every
// pair of types.
func TestTypeTableAnswers(t *testing.T) {
	want := map[wire.Type]func(req wire.Type) bool{
		wire.JobCreated:      wire.Type.IsSubmit,
		wire.EchoRes:         func(r wire.Type) bool { return r == wire.EchoReq },
		wire.StatusRes:       func(r wire.Type) bool { return r == wire.GetStatus },
		wire.StatusResUnique: func(r wire.Type) bool { return r == wire.GetStatusUnique },
		wire.OptionRes:       func(r wire.Type) bool { return r == wire.OptionReq },
		wire.NoJob:           wire.Type.IsGrab,
		wire.JobAssign:       wire.Type.IsGrab,
		wire.JobAssignUniq:   wire.Type.IsGrab,
		wire.JobAssignAll:    wire.Type.IsGrab,
		wire.JobAssignStream: wire.Type.IsGrab,
	}
	for _, res := range allTypes() {
		for _, req := range append(allTypes(), 0, 5, 200) {
			w := want[res] != nil && want[res](req)
			if got := res.Answers(req); got != w {
				t.Errorf("%v.Answers(%v) = %v, want %v", res, req, got, w)
			}
		}
	}
	for _, req := range allTypes() {
		if !req.IsSubmit() && !req.IsGrab() {
			continue
		}
		if req.Direction() != wire.ToServer {
			t.Errorf("request %v goes %v", req, req.Direction())
		}
	}
}
