package wire_test

import (
	"errors"
	"testing"

	"github.com/seed749d6d6d/gearman/wire"
)

func TestValidNames(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fnOK, client bool
		unique       bool
	}{
		{"", true, true, true},
		{"reverse", true, true, true},
		{"ünïcode/ok:1.2-x_y", true, true, true},
		{"two words", false, true, true},
		{"tab\tx", false, false, true},
		{"line\nfake\t0\t0\t0", false, false, false},
		{"cr\r", false, false, false},
		{"del\x7f", false, false, true},
		{"nul\x00", false, false, true},
		{"\x01", false, false, true},
	} {
		err := wire.ValidFunctionName([]byte(tc.name))
		if (err == nil) != tc.fnOK || err != nil && !errors.Is(err, wire.ErrBadName) {
			t.Errorf("ValidFunctionName(%q) = %v; want ok %v", tc.name, err, tc.fnOK)
		}
		err = wire.ValidClientID([]byte(tc.name))
		if (err == nil) != tc.client || err != nil && !errors.Is(err, wire.ErrBadName) {
			t.Errorf("ValidClientID(%q) = %v; want ok %v", tc.name, err, tc.client)
		}
		err = wire.ValidUnique([]byte(tc.name))
		if (err == nil) != tc.unique || err != nil && !errors.Is(err, wire.ErrBadName) {
			t.Errorf("ValidUnique(%q) = %v; want ok %v", tc.name, err, tc.unique)
		}
	}
}
