package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Decoding errors wrap them in a [*ProtocolError]; test for
// them with [errors.Is].
var (
	// ErrBadMagic means a packet header did not start with "\0REQ" or "\0RES".
	ErrBadMagic = errors.New("gearman/wire: bad magic")
	// ErrUnknownType means a packet header named a type the protocol does not
	// define.
	ErrUnknownType = errors.New("gearman/wire: unknown packet type")
	// ErrTooLarge means a packet body is larger than the reader's limit, or
	// larger than a packet can declare.
	ErrTooLarge = errors.New("gearman/wire: packet too large")
	// ErrArgCount means a packet does not carry the number of arguments its
	// type requires, or an argument other than the last holds a NUL byte.
	ErrArgCount = errors.New("gearman/wire: wrong argument count")
	// ErrLineTooLong means an admin text line did not end within the reader's
	// line limit.
	ErrLineTooLong = errors.New("gearman/wire: admin line too long")
	// ErrShortData means a data argument streamed by [Writer.WriteFrom] ended
	// before the length the packet declared. The packet on the wire is then
	// incomplete and the connection unusable.
	ErrShortData = errors.New("gearman/wire: data shorter than declared")
	// ErrBadReply means an admin reply line does not have the form its
	// command answers with.
	ErrBadReply = errors.New("gearman/wire: malformed admin reply")
)

// ProtocolError describes malformed input: what was wrong (Err, one of the
// sentinel errors or [io.ErrUnexpectedEOF]), where it started in the stream
// (Offset, in bytes from the start of the reader), and the packet type when it
// was known.
type ProtocolError struct {
	Offset int64  // offset of the packet or line that was malformed
	Type   Type   // the packet's type, or 0 when unknown or not a packet
	Err    error  // the sentinel error
	Detail string // what exactly was wrong, for people
}

// Error returns a message that says what was wrong and where.
func (e *ProtocolError) Error() string {
	msg := e.Err.Error()
	if !strings.HasPrefix(msg, "gearman/wire: ") {
		msg = "gearman/wire: " + msg // io.ErrUnexpectedEOF
	}
	if e.Type != 0 {
		msg += " in " + e.Type.String()
	}
	msg += fmt.Sprintf(" at byte %d", e.Offset)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *ProtocolError) Unwrap() error { return e.Err }
