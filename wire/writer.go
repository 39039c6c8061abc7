package wire

import (
	"fmt"
	"io"
	"net"
)

// LargeData is the size from which a data argument is written straight
// from the caller's slice instead of being copied into a buffer: by
// [Writer.WritePacket], and by this module's client, worker and job server,
// which then hold the slice until it is written.
const LargeData = 64 << 10

// Writer encodes packets into a buffer and writes them with [Writer.Flush],
// so that many packets go out in one write call.
//
// A Writer is not safe for concurrent use. After a write error the
// underlying stream is in an unknown state.
type Writer struct {
	w    io.Writer
	buf  []byte
	vec  [2][]byte   // the buffer and a large data argument
	bufs net.Buffers // over vec; a field, so that WriteTo does not allocate
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 4096)}
}

// Buffered returns the number of bytes waiting for [Writer.Flush].
func (w *Writer) Buffered() int { return len(w.buf) }

// WritePacket adds a packet to the buffer, with the checks of [AppendPacket].
// A last argument of [LargeData] bytes or more is not copied: the buffer and
// it are written at once (with one vectored write where the stream supports
// it), in order.
func (w *Writer) WritePacket(m Magic, t Type, args ...[]byte) error {
	if n := len(args); n == 0 || len(args[n-1]) < LargeData {
		b, err := AppendPacket(w.buf, m, t, args...)
		if err != nil {
			return err
		}
		w.buf = b
		return nil
	}
	data := args[len(args)-1]
	if err := w.appendLeading(m, t, args[:len(args)-1], int64(len(data))); err != nil {
		return err
	}
	w.vec = [2][]byte{w.buf, data}
	w.bufs = w.vec[:]
	_, err := w.bufs.WriteTo(w.w)
	w.vec, w.bufs = [2][]byte{}, nil // keep no reference to the caller's data
	w.reset()
	return err
}

// WriteFrom writes a packet whose data argument, n bytes long, is copied from
// r as it is read, so that no buffer holds it whole. lead holds the other
// arguments. Anything buffered before goes out first. If r ends before n
// bytes, WriteFrom returns an error wrapping [ErrShortData]; the packet is then
// incomplete on the wire and the stream must be abandoned.
func (w *Writer) WriteFrom(m Magic, t Type, lead [][]byte, n int64, r io.Reader) error {
	if err := w.appendLeading(m, t, lead, n); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	k, err := io.CopyN(w.w, r, n)
	if err == io.EOF {
		return fmt.Errorf("%w: %v declared %d bytes, the reader gave %d", ErrShortData, t, n, k)
	}
	return err
}

// appendLeading appends the header and leading arguments of a packet whose
// data argument, n bytes long, is written separately.
func (w *Writer) appendLeading(m Magic, t Type, lead [][]byte, n int64) error {
	b, err := AppendLeading(w.buf, m, t, lead, n)
	w.buf = b
	return err
}

// AppendLeading appends the header and the arguments before the data of a
// packet whose data argument, n bytes long, the caller writes separately
// (streamed, or from memory it does not want copied). It makes the checks of
// [AppendPacket]; t must carry data ([Type.HasData]) and lead must hold
// [Type.NArgs]-1 arguments.
func AppendLeading(dst []byte, m Magic, t Type, lead [][]byte, n int64) ([]byte, error) {
	if t.Valid() && !t.HasData() {
		return dst, fmt.Errorf("%w: %v carries no data argument", ErrArgCount, t)
	}
	if n < 0 {
		return dst, fmt.Errorf("%w: negative data length %d", ErrTooLarge, n)
	}
	var all [MaxArgs][]byte
	if len(lead) >= MaxArgs {
		return dst, fmt.Errorf("%w: %v takes %d, got %d", ErrArgCount, t, t.NArgs(), len(lead)+1)
	}
	copy(all[:], lead)
	size, err := bodyLen(m, t, all[:len(lead)+1], n)
	if err != nil {
		return dst, err
	}
	dst = AppendHeader(dst, m, t, uint32(size))
	for _, a := range lead {
		dst = append(dst, a...)
		dst = append(dst, 0)
	}
	return dst, nil
}

// Write adds raw bytes, such as an admin text line, to the buffer. It never
// fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// WriteString adds raw text to the buffer. It never fails.
func (w *Writer) WriteString(s string) (int, error) {
	w.buf = append(w.buf, s...)
	return len(s), nil
}

// Flush writes the buffered bytes to the underlying writer.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.reset()
	return err
}

// reset empties the buffer, dropping it when a large packet grew it.
func (w *Writer) reset() {
	if cap(w.buf) > 1<<20 {
		w.buf = make([]byte, 0, 4096)
		return
	}
	w.buf = w.buf[:0]
}
