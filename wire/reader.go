package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultBufferSize is the size of a [Reader]'s buffer from [NewReader]. It is
// also the longest admin text line, and, less the 12-byte header, the longest
// run of leading arguments (function name, unique id, handle) a packet may
// carry before its data.
const DefaultBufferSize = 64 << 10

// DefaultMaxPacketSize is the largest body [Reader.Next] reads into memory
// unless [Reader.SetMaxPacketSize] says otherwise.
const DefaultMaxPacketSize = 64 << 20

// Reader decodes packets and admin text lines from a stream.
//
// A Reader is not safe for concurrent use. Packets it returns alias its
// buffers and are valid only until the next call of Next or NextHeader.
// After a decoding error the stream's position is unknown: every later call
// returns the same error. So does a read error (such as a timeout) that
// strikes after part of a packet or line was consumed; a read error before a
// packet's first byte is consumed is returned as is, and a later call tries
// again.
type Reader struct {
	br      *bufio.Reader
	maxSize int64
	unknown bool  // NextHeader returns packets of unknown types (AllowUnknown)
	off     int64 // offset of the next byte of the stream
	pending int64 // data bytes NextHeader left unread
	start   int64 // offset of the packet whose data is pending
	typ     Type  // type of the packet whose data is pending
	err     error // sticky error

	args [MaxArgs][]byte
	big  []byte // body buffer for bodies larger than br's buffer
	// lastBig: the body Next last returned lies in big (see Keep)
	lastBig bool
	lead    []byte // copy of the leading arguments from NextHeader
	data    dataReader
}

// NewReader returns a Reader with a buffer of [DefaultBufferSize] bytes.
func NewReader(r io.Reader) *Reader {
	return NewReaderSize(r, DefaultBufferSize)
}

// NewReaderSize returns a Reader whose buffer holds size bytes (at least 4096):
// the longest admin line it accepts, and the header and leading arguments of
// the largest packet whose data [Reader.NextHeader] streams.
func NewReaderSize(r io.Reader, size int) *Reader {
	if size < 4096 {
		size = 4096
	}
	rd := &Reader{br: bufio.NewReaderSize(r, size), maxSize: DefaultMaxPacketSize}
	rd.data.r = rd
	return rd
}

// SetMaxPacketSize sets the largest body [Reader.Next] accepts, and the
// largest body without a data argument [Reader.NextHeader] accepts; a larger
// one is an [ErrTooLarge] error. NextHeader does not hold data arguments in
// memory, so it applies no limit to them.
func (r *Reader) SetMaxPacketSize(n int64) { r.maxSize = n }

// AllowUnknown makes [Reader.NextHeader] return a packet of a type the
// protocol does not define instead of failing with [ErrUnknownType]: its
// Args are empty, and its whole body is left as the data argument
// ([Reader.Data], [Reader.DataLen]), which the next call skips unread, so
// a peer's newer packets cost no memory and leave the stream intact.
// [Reader.Next] still fails on them.
func (r *Reader) AllowUnknown(on bool) { r.unknown = on }

// Keep gives the caller the memory of the packet [Reader.Next] last returned
// when its body was larger than the read buffer, and reports whether it did:
// the bytes of the packet's arguments then stay valid for good (the Args
// slice itself is reused by the next call), and the reader reads later
// large bodies into new memory. A body that fit the read buffer is not kept
// (Keep reports false): its arguments are valid only until the next call, as
// always. A server keeps a large payload this way instead of copying it.
func (r *Reader) Keep() bool {
	if !r.lastBig {
		return false
	}
	r.lastBig = false
	r.big = nil
	return true
}

// Offset returns the number of bytes consumed from the stream so far.
func (r *Reader) Offset() int64 { return r.off }

// Buffered returns the number of bytes that can be read without blocking.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Next reads the next packet or admin text line whole. Its arguments alias
// the Reader's buffers until the next call. It returns [io.EOF] when the stream
// ends cleanly between packets.
func (r *Reader) Next() (Packet, error) {
	return r.next(false)
}

// NextHeader reads the next packet like [Reader.Next], except that for a type
// that carries data ([Type.HasData]) the data argument is left unread: the
// packet's Args hold the leading arguments only, and the data is read, as it
// arrives, from [Reader.Data], whose length [Reader.DataLen] reports. Data not
// read by the next call is skipped.
func (r *Reader) NextHeader() (Packet, error) {
	return r.next(true)
}

// Data returns a reader of the data argument left unread by the last call of
// [Reader.NextHeader]. It returns [io.EOF] at the end of the data and
// [io.ErrUnexpectedEOF] if the stream ends first. It is the same reader every
// time (no allocation).
func (r *Reader) Data() io.Reader { return &r.data }

// DataLen returns the number of data bytes left to read from [Reader.Data].
func (r *Reader) DataLen() int64 { return r.pending }

// PeekData returns the data argument left unread by the last call of
// [Reader.NextHeader] when it is in the buffer whole, without consuming
// it, and reports whether it is; it aliases the buffer until the next read.
func (r *Reader) PeekData() ([]byte, bool) {
	if r.pending > int64(r.br.Buffered()) {
		return nil, false
	}
	b, err := r.br.Peek(int(r.pending))
	return b, err == nil
}

// Buffer reads until the next packet is in the buffer whole, so that the
// next call of [Reader.Next] or [Reader.NextHeader] reads nothing more from
// the stream, and reports true; it reports false, reading no further, when
// the next packet is larger than the buffer or is an admin text line. It
// consumes nothing: after a read error (a timeout) a later call goes on
// where it stopped. It returns [io.EOF] when the stream ends cleanly between
// packets.
func (r *Reader) Buffer() (bool, error) {
	if r.err != nil {
		return false, r.err
	}
	if r.pending > 0 {
		if r.pending > int64(r.br.Buffered()) {
			return false, nil
		}
		n := r.pending
		r.pending = 0
		r.discard(int(n))
	}
	first, err := r.br.Peek(1)
	if err != nil {
		return false, err
	}
	if first[0] != 0 {
		return false, nil
	}
	hdr, err := r.br.Peek(HeaderSize)
	if err != nil {
		return false, r.ioFail(r.off, 0, err, false, "stream ended inside a packet header")
	}
	n := HeaderSize + int64(binary.BigEndian.Uint32(hdr[8:12]))
	if n > int64(r.br.Size()) {
		return false, nil
	}
	if _, err := r.br.Peek(int(n)); err != nil {
		return false, r.ioFail(r.off, 0, err, false, "stream ended inside a packet")
	}
	return true, nil
}

// Peek decodes the next packet, which [Reader.Buffer] has reported whole,
// without consuming it, and reports whether it could: not for a packet that
// is not buffered whole, nor for one that does not decode (the next call of
// Next or NextHeader reports why). Like NextHeader's, its Args hold only the
// leading arguments of a type that carries data, with the data's length
// returned apart. They alias the Reader's buffer until the next call.
func (r *Reader) Peek() (p Packet, dataLen int, ok bool) {
	if r.err != nil || r.pending > 0 || r.br.Buffered() < HeaderSize {
		return Packet{}, 0, false
	}
	hdr, _ := r.br.Peek(HeaderSize)
	m, ok := magicOf(hdr)
	if !ok {
		return Packet{}, 0, false
	}
	t := Type(binary.BigEndian.Uint32(hdr[4:8]))
	size := int(binary.BigEndian.Uint32(hdr[8:12]))
	if !t.Valid() || r.br.Buffered() < HeaderSize+size {
		return Packet{}, 0, false
	}
	b, _ := r.br.Peek(HeaderSize + size)
	args, err := r.split(t, b[HeaderSize:], t.NArgs())
	if err != nil {
		return Packet{}, 0, false
	}
	p = Packet{Magic: m, Type: t, Args: args}
	if t.HasData() {
		dataLen = len(args[len(args)-1])
		p.Args = args[:len(args)-1]
	}
	return p, dataLen, true
}

func (r *Reader) next(split bool) (Packet, error) {
	r.lastBig = false
	if r.err != nil {
		return Packet{}, r.err
	}
	if r.pending > 0 {
		if err := r.skip(); err != nil {
			return Packet{}, err
		}
	}
	first, err := r.br.Peek(1)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		return Packet{}, err
	}
	if first[0] != 0 {
		return r.line()
	}
	start := r.off
	hdr, err := r.br.Peek(HeaderSize)
	if err != nil {
		return Packet{}, r.ioFail(start, 0, err, false, "stream ended inside a packet header")
	}
	m, ok := magicOf(hdr)
	if !ok {
		return Packet{}, r.fail(start, 0, ErrBadMagic, fmt.Sprintf("got %q", hdr[:4]))
	}
	t := Type(binary.BigEndian.Uint32(hdr[4:8]))
	size := int64(binary.BigEndian.Uint32(hdr[8:12]))
	if !t.Valid() {
		if split && r.unknown {
			// The framing holds: the body is left as data, which the
			// next call skips.
			r.discard(HeaderSize)
			r.start, r.typ, r.pending = start, t, size
			return Packet{Magic: m, Type: t}, nil
		}
		return Packet{}, r.fail(start, 0, ErrUnknownType, fmt.Sprintf("type %d", uint32(t)))
	}
	p := Packet{Magic: m, Type: t}
	if split && t.HasData() {
		return r.leading(p, start, size)
	}
	if size > r.maxSize {
		return Packet{}, r.fail(start, t, ErrTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", size, r.maxSize))
	}
	var body []byte
	if size <= int64(r.br.Size()-HeaderSize) {
		// Header and body fit the buffer: consume nothing until both are
		// there, so that a read error (a timeout) leaves the stream intact.
		b, err := r.br.Peek(HeaderSize + int(size))
		if err != nil {
			return Packet{}, r.ioFail(start, t, err, false, fmt.Sprintf("stream ended inside a body of %d bytes", size))
		}
		r.discard(HeaderSize + int(size))
		body = b[HeaderSize:]
	} else {
		r.discard(HeaderSize)
		body, err = r.readBig(int(size))
		if err != nil {
			return Packet{}, r.ioFail(start, t, err, true, fmt.Sprintf("stream ended inside a body of %d bytes", size))
		}
		r.lastBig = true
	}
	p.Args, err = r.split(t, body, t.NArgs())
	if err != nil {
		return Packet{}, r.fail(start, t, ErrArgCount, err.Error())
	}
	return p, nil
}

// magicOf decodes a binary packet header's magic, and reports whether it is
// one.
func magicOf(hdr []byte) (Magic, bool) {
	switch [4]byte(hdr[:4]) {
	case magicReq:
		return Req, true
	case magicRes:
		return Res, true
	}
	return 0, false
}

// skip discards the data argument NextHeader left unread.
func (r *Reader) skip() error {
	for r.pending > 0 {
		n, err := r.br.Discard(int(min(r.pending, 1<<30)))
		r.off += int64(n)
		r.pending -= int64(n)
		if err != nil {
			// What was discarded is accounted for: after a timeout, a later
			// call goes on skipping.
			return r.ioFail(r.start, r.typ, err, false, "stream ended inside a data argument")
		}
	}
	return nil
}

// readBig reads a body of n bytes, larger than the bufio buffer, into r.big.
// Memory follows what the peer sends, so that a header claiming a large
// body makes the reader allocate little until the body comes: up to an
// eighth of n (and at least 1 MiB) the buffer grows as the bytes arrive, by
// doubling; then it is made n bytes long at once, and what came so far is
// copied over once. A large body thus ends in one buffer of its own size
// (which [Reader.Keep] can hand on), with less than an eighth of it copied
// and the memory it takes at its peak less than 1.25 times its size; a
// peer that stops sending has made the reader allocate at most 16 times
// what it sent, or 8 MiB. A body of up to 8 MiB is one allocation.
func (r *Reader) readBig(n int) ([]byte, error) {
	b := r.big[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			next := max(2*cap(b), 1<<20)
			if next >= n/8 {
				next = n
			}
			nb := make([]byte, len(b), next)
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r.br, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		r.off += int64(k)
		if err != nil {
			r.big = b[:0]
			return nil, err
		}
	}
	r.big = b[:0]
	return b, nil
}

// split cuts body into nargs arguments at the first nargs-1 NUL bytes.
func (r *Reader) split(t Type, body []byte, nargs int) ([][]byte, error) {
	if nargs == 0 {
		if len(body) != 0 {
			return nil, fmt.Errorf("takes no arguments, got a body of %d bytes", len(body))
		}
		return nil, nil
	}
	args := r.args[:nargs]
	for i := 0; i < nargs-1; i++ {
		j := bytes.IndexByte(body, 0)
		if j < 0 {
			return nil, fmt.Errorf("takes %d arguments, got %d", t.NArgs(), i+1)
		}
		args[i] = body[:j:j]
		body = body[j+1:]
	}
	if t == WorkFail && len(body) > 0 && bytes.IndexByte(body, 0) == len(body)-1 {
		// gearmand sends "handle\0" when it turns an exception into a
		// failure. Only a lone NUL at the end is dropped, so that decoding
		// what AppendPacket encodes from a decoded packet gives it back.
		body = body[:len(body)-1]
	}
	args[nargs-1] = body[:len(body):len(body)]
	return args, nil
}

// leading reads the arguments before the data argument of a packet whose body
// is size bytes, and leaves the data pending. It consumes nothing before the
// leading arguments are all in the buffer.
func (r *Reader) leading(p Packet, start, size int64) (Packet, error) {
	nuls := p.Type.NArgs() - 1
	limit := int(min(size, int64(r.br.Size()-HeaderSize)))
	end := 0 // bytes of the body holding the leading arguments, NULs included
	for found, scanned := 0, 0; found < nuls; {
		if scanned >= limit {
			if int64(limit) < size {
				return Packet{}, r.fail(start, p.Type, ErrTooLarge, fmt.Sprintf("leading arguments longer than %d bytes", limit))
			}
			return Packet{}, r.fail(start, p.Type, ErrArgCount, fmt.Sprintf("takes %d arguments, got %d", nuls+1, found+1))
		}
		avail := min(r.br.Buffered()-HeaderSize, limit)
		if avail <= scanned {
			if _, err := r.br.Peek(HeaderSize + scanned + 1); err != nil {
				return Packet{}, r.ioFail(start, p.Type, err, false, fmt.Sprintf("stream ended inside a body of %d bytes", size))
			}
			continue
		}
		buf, _ := r.br.Peek(HeaderSize + avail)
		buf = buf[HeaderSize:]
		for ; scanned < avail && found < nuls; scanned++ {
			if buf[scanned] == 0 {
				found++
				end = scanned + 1
			}
		}
	}
	r.discard(HeaderSize)
	if end > 0 {
		buf, _ := r.br.Peek(end)
		r.lead = append(r.lead[:0], buf...)
		r.discard(end)
		args, _ := r.split(p.Type, r.lead[:end-1], nuls)
		p.Args = args
	} else {
		p.Args = r.args[:0]
	}
	r.pending = size - int64(end)
	r.start, r.typ = start, p.Type
	return p, nil
}

// line reads an admin text line.
func (r *Reader) line() (Packet, error) {
	start := r.off
	b, err := r.br.ReadSlice('\n')
	r.off += int64(len(b))
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return Packet{}, r.fail(start, 0, ErrLineTooLong, fmt.Sprintf("no line end within %d bytes", r.br.Size()))
	case err != nil:
		// ReadSlice consumed what it read: the error is sticky.
		return Packet{}, r.ioFail(start, 0, err, true, "stream ended inside an admin line")
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	r.args[0] = b[:len(b):len(b)]
	return Packet{Magic: Text, Args: r.args[:1]}, nil
}

func (r *Reader) discard(n int) {
	k, _ := r.br.Discard(n)
	r.off += int64(k)
}

// ioFail reports a read error: an end of stream inside a packet becomes an
// [io.ErrUnexpectedEOF] protocol error; other errors pass through, and stick
// when consumed says part of the packet is gone from the stream.
func (r *Reader) ioFail(off int64, t Type, err error, consumed bool, detail string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(off, t, io.ErrUnexpectedEOF, detail)
	}
	if consumed {
		r.err = err
	}
	return err
}

func (r *Reader) fail(off int64, t Type, err error, detail string) error {
	r.err = &ProtocolError{Offset: off, Type: t, Err: err, Detail: detail}
	return r.err
}

// dataReader reads the data argument left pending by NextHeader.
type dataReader struct{ r *Reader }

func (d *dataReader) Read(p []byte) (int, error) {
	r := d.r
	if r.pending == 0 {
		return 0, io.EOF
	}
	if r.err != nil {
		return 0, r.err
	}
	if int64(len(p)) > r.pending {
		p = p[:r.pending]
	}
	n, err := r.br.Read(p)
	r.off += int64(n)
	r.pending -= int64(n)
	if err != nil {
		// What was read is accounted for: after a timeout, a later call goes
		// on reading.
		return n, r.ioFail(r.start, r.typ, err, false, "stream ended inside a data argument")
	}
	return n, nil
}
