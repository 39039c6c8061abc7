package filestore

import "encoding/binary"

// idList is a list of job ids held compactly: each id as the zigzag varint
// of its difference from the one before. A segment's ids mostly rise by
// one, so most take a byte instead of eight: with a million queued jobs
// the lists cost about 1 MiB, not 8.
type idList struct {
	b    []byte
	last uint64
	n    int
}

// add appends id.
func (l *idList) add(id uint64) {
	l.b = binary.AppendVarint(l.b, int64(id-l.last))
	l.last = id
	l.n++
}

// ids returns the list's ids in the order they were added.
func (l *idList) ids() []uint64 {
	out := make([]uint64, 0, l.n)
	var id uint64
	for b := l.b; len(b) > 0; {
		d, n := binary.Varint(b)
		if n <= 0 {
			break // cannot happen: add wrote every byte
		}
		b = b[n:]
		id += uint64(d)
		out = append(out, id)
	}
	return out
}
