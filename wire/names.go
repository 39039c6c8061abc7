package wire

import (
	"errors"
	"fmt"
)

// ErrBadName means a function name, client id or unique id holds a byte
// that the admin text protocol cannot carry: the server's lists ("status",
// "workers", "show unique jobs") would show it as a line or field of its
// own.
var ErrBadName = errors.New("gearman/wire: name holds a byte the admin protocol cannot carry")

// ValidFunctionName reports, as an error wrapping [ErrBadName], whether
// name holds a byte that would break the admin text protocol: a control
// character (0x00-0x1f, 0x7f: tab and newline separate the fields and
// lines of "status") or a space (admin commands such as "drop function
// NAME" split on spaces, and "workers" lists names separated by spaces).
// Any other byte, UTF-8 included, is allowed; the empty name is too.
func ValidFunctionName(name []byte) error {
	for i, b := range name {
		if b <= ' ' || b == 0x7f {
			return fmt.Errorf("%w: function name holds byte %#02x at %d", ErrBadName, b, i)
		}
	}
	return nil
}

// ValidClientID reports, as an error wrapping [ErrBadName], whether a
// SET_CLIENT_ID value holds a control character (0x00-0x1f, 0x7f), which
// would add a line or field to the admin "workers" list. Spaces are allowed:
// [ParseWorkers] reads a client id with spaces.
func ValidClientID(id []byte) error {
	for i, b := range id {
		if b < ' ' || b == 0x7f {
			return fmt.Errorf("%w: client id holds byte %#02x at %d", ErrBadName, b, i)
		}
	}
	return nil
}

// ValidUnique reports, as an error wrapping [ErrBadName], whether a unique
// id holds a line break (CR or LF), which would add lines to the admin
// "show unique jobs" list, one unique id a line. Other bytes, control
// characters included, are allowed: some clients send binary ids.
func ValidUnique(unique []byte) error {
	for i, b := range unique {
		if b == '\n' || b == '\r' {
			return fmt.Errorf("%w: unique id holds a line break at %d", ErrBadName, i)
		}
	}
	return nil
}
