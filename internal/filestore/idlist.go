package filestore

import "encoding/binary"

// idList is a list of job ids held compactly, as a sequence of uvarint
// entries, each either
//
//	a single id:  zigzag(id - previous id) << 1, when that is not zero and fits
//	a run:        n << 1 | 1, for the n ids previous+1 ... previous+n
//	an escape:    0, then the single id's difference as a varint
//
// A segment's ids mostly rise by one (the server numbers jobs as they
// come, and writes their records in that order), so a segment of a
// million jobs submitted in a row costs a few bytes, not megabytes;
// interleaved foreground jobs (which take ids but are not stored) make
// gaps of a byte each.
type idList struct {
	b     []byte
	last  uint64
	n     int
	runAt int // where the last entry starts when it is a run; -1 = it is not
	run   uint64
}

// add appends id.
func (l *idList) add(id uint64) {
	switch {
	case id == l.last+1 && l.n > 0 && l.runAt >= 0:
		l.run++
		l.b = binary.AppendUvarint(l.b[:l.runAt], l.run<<1|1)
	case id == l.last+1:
		l.runAt, l.run = len(l.b), 1
		l.b = binary.AppendUvarint(l.b, 1<<1|1)
	default:
		d := int64(id - l.last)
		l.runAt = -1
		if z := uint64(d<<1 ^ d>>63); z != 0 && z < 1<<63 {
			l.b = binary.AppendUvarint(l.b, z<<1)
		} else {
			l.b = binary.AppendVarint(append(l.b, 0), d)
		}
	}
	l.last = id
	l.n++
}

// ids returns the list's ids in the order they were added.
func (l *idList) ids() []uint64 {
	out := make([]uint64, 0, l.n)
	var id uint64
	for b := l.b; len(b) > 0; {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			break // cannot happen: add wrote every byte
		}
		b = b[n:]
		switch {
		case v&1 == 1:
			for range v >> 1 {
				id++
				out = append(out, id)
			}
			continue
		case v == 0:
			d, n := binary.Varint(b)
			if n <= 0 {
				return out // cannot happen: add wrote every byte
			}
			b = b[n:]
			id += uint64(d)
		default:
			z := v >> 1
			id += uint64(int64(z>>1) ^ -int64(z&1))
		}
		out = append(out, id)
	}
	return out
}
