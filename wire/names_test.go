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
	}{
		{"", true, true},
		{"reverse", true, true},
		{"ünïcode/ok:1.2-x_y", true, true},
		{"two words", false, true},
		{"tab\tx", false, false},
		{"line\nfake\t0\t0\t0", false, false},
		{"cr\r", false, false},
		{"del\x7f", false, false},
		{"nul\x00", false, false},
		{"\x01", false, false},
	} {
		err := wire.ValidFunctionName([]byte(tc.name))
		if (err == nil) != tc.fnOK || err != nil && !errors.Is(err, wire.ErrBadName) {
			t.Errorf("ValidFunctionName(%q) = %v; want ok %v", tc.name, err, tc.fnOK)
		}
		err = wire.ValidClientID([]byte(tc.name))
		if (err == nil) != tc.client || err != nil && !errors.Is(err, wire.ErrBadName) {
			t.Errorf("ValidClientID(%q) = %v; want ok %v", tc.name, err, tc.client)
		}
	}
}
