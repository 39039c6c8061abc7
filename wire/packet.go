package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// HeaderSize is the size of a binary packet header.
const HeaderSize = 12

// Magic tells requests, responses and admin text lines apart.
type Magic uint8

// Magic values. [Req] and [Res] are the two binary magics; [Text] marks a
// [Packet] that is an admin text line, which has no magic on the wire.
const (
	Req  Magic = iota + 1 // "\0REQ": sent to a server
	Res                   // "\0RES": sent by a server
	Text                  // an admin text line
)

var (
	magicReq = [4]byte{0, 'R', 'E', 'Q'}
	magicRes = [4]byte{0, 'R', 'E', 'S'}
)

// String returns "REQ", "RES" or "TEXT".
func (m Magic) String() string {
	switch m {
	case Req:
		return "REQ"
	case Res:
		return "RES"
	case Text:
		return "TEXT"
	}
	return fmt.Sprintf("Magic(%d)", uint8(m))
}

// Packet is one decoded binary packet or admin text line.
//
// A packet from [Reader.Next] or [Reader.NextHeader] aliases the reader's
// buffer: its Args are valid only until the next call on that reader. Copy
// what you keep (a job handle, a unique id).
type Packet struct {
	Magic Magic
	Type  Type // 0 for a text line
	// Args holds the arguments, the data argument last. For a text line it
	// holds one element, the line without its line ending. From
	// [Reader.NextHeader] a packet whose type has data holds every argument
	// but the data, which is read through [Reader.Data].
	Args [][]byte
}

// Arg returns argument i, or nil when the packet has no such argument.
func (p Packet) Arg(i int) []byte {
	if i < 0 || i >= len(p.Args) {
		return nil
	}
	return p.Args[i]
}

// String describes the packet for logs and test failures, with long
// arguments cut short.
func (p Packet) String() string {
	var b bytes.Buffer
	if p.Magic == Text {
		fmt.Fprintf(&b, "TEXT %q", p.Arg(0))
		return b.String()
	}
	fmt.Fprintf(&b, "%v %v", p.Magic, p.Type)
	for _, a := range p.Args {
		if len(a) > 64 {
			fmt.Fprintf(&b, " %q...(%d bytes)", a[:64], len(a))
		} else {
			fmt.Fprintf(&b, " %q", a)
		}
	}
	return b.String()
}

// AppendHeader appends a packet header for a body of bodyLen bytes.
func AppendHeader(dst []byte, m Magic, t Type, bodyLen uint32) []byte {
	if m == Res {
		dst = append(dst, magicRes[:]...)
	} else {
		dst = append(dst, magicReq[:]...)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(t))
	return binary.BigEndian.AppendUint32(dst, bodyLen)
}

// AppendPacket appends the packet of type t with the given arguments to dst
// and returns the extended buffer. It allocates only when dst lacks room.
//
// It checks what would make the packet unreadable: the type must be valid,
// args must number exactly [Type.NArgs], no argument but the last may hold a
// NUL byte, and the body must fit the 32-bit length field. m must be [Req] or
// [Res] (else the error wraps [ErrBadMagic]).
func AppendPacket(dst []byte, m Magic, t Type, args ...[]byte) ([]byte, error) {
	n, err := bodyLen(m, t, args, 0)
	if err != nil {
		return dst, err
	}
	dst = AppendHeader(dst, m, t, uint32(n))
	for i, a := range args {
		if i > 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, a...)
	}
	return dst, nil
}

// bodyLen checks args for a packet of type t whose last argument is extra
// bytes longer than given (streamed separately) and returns the body length.
func bodyLen(m Magic, t Type, args [][]byte, extra int64) (int64, error) {
	if m != Req && m != Res {
		return 0, fmt.Errorf("%w: cannot encode a packet with magic %v", ErrBadMagic, m)
	}
	if !t.Valid() {
		return 0, fmt.Errorf("%w: %d", ErrUnknownType, uint32(t))
	}
	if len(args) != t.NArgs() {
		return 0, fmt.Errorf("%w: %v takes %d, got %d", ErrArgCount, t, t.NArgs(), len(args))
	}
	n := extra
	for i, a := range args {
		if i > 0 {
			n++
		}
		if i < len(args)-1 && bytes.IndexByte(a, 0) >= 0 {
			return 0, fmt.Errorf("%w: argument %d of %v holds a NUL byte", ErrArgCount, i, t)
		}
		n += int64(len(a))
	}
	if n > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %v body of %d bytes exceeds the 32-bit length field", ErrTooLarge, t, n)
	}
	return n, nil
}
