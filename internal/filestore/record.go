package filestore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// The log is a sequence of segment files, each a sequence of records:
//
//	frame:  body length (uint32 LE) | CRC-32C of body (uint32 LE) | body
//	body:   kind (1 byte) | fields
//
// Integers in bodies are unsigned varints (uvarint) unless said otherwise;
// strings and byte strings are a uvarint length and the bytes; a job's
// payload is the rest of its body, so it is never copied to be framed.
const (
	kindHeader  = 1 // version (byte), segment number, highest job id so far, highest seq so far
	kindCreate  = 2 // id, seq, priority (byte), retries, when (varint), created (varint), func, unique, reducer, schedule, payload (rest)
	kindAssign  = 3 // id
	kindRequeue = 4 // id, seq, retries
	kindRunEnd  = 5 // id
	kindFinish  = 6 // id
	// kindFailed is a job's full record with its failures: kindCreate's
	// fields before the payload, then failures, first and last failure
	// (varint), dead (byte 0 or 1), error, then the payload (rest). It is
	// written in place of kindCreate for a job that has failed.
	kindFailed = 7
)

// formatVersion is the version in the header of each segment this code
// begins; it reads segments of every version from minFormatVersion on.
// Version 2 added kindFailed; a store that holds one cannot be opened by
// a server of version 1 (it reports a damaged record).
const (
	formatVersion    = 2
	minFormatVersion = 1
)

// frameHeader is the size of a record's frame before its body.
const frameHeader = 8

// maxBody bounds a record's body: a job's payload is at most what the
// server takes in one packet (gearman.Server.MaxPacketSize), well below.
const maxBody = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errRecord is the cause of a record that cannot be read.
var errRecord = errors.New("malformed record")

// appendFrame appends a record whose body is built by body, framed.
func appendFrame(dst []byte, body func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = body(dst)
	b := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(b)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(b, castagnoli))
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendCreate appends j's full record.
func appendCreate(dst []byte, j *store.Job, seq uint64) []byte {
	return appendFrame(dst, func(b []byte) []byte {
		return append(appendCreateFields(b, j, seq), j.Data...)
	})
}

// appendCreateHead appends j's full record but its payload, which must
// follow it: the frame's length and checksum count the payload.
func appendCreateHead(dst []byte, j *store.Job, seq uint64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = appendCreateFields(dst, j, seq)
	b := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(b)+len(j.Data)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, j.Data))
	return dst
}

// hasFailures reports whether j's record is a kindFailed.
func hasFailures(j *store.Job) bool {
	return j.Failures != 0 || j.Dead || j.Error != "" || j.FirstFailed != 0
}

// appendCreateFields appends the body of j's record before its payload.
func appendCreateFields(b []byte, j *store.Job, seq uint64) []byte {
	failures := hasFailures(j)
	if failures {
		b = append(b, kindFailed)
	} else {
		b = append(b, kindCreate)
	}
	b = binary.AppendUvarint(b, j.ID)
	b = binary.AppendUvarint(b, seq)
	b = append(b, byte(j.Priority))
	b = binary.AppendUvarint(b, uint64(j.Retries))
	b = binary.AppendVarint(b, j.When)
	b = binary.AppendVarint(b, j.Created)
	b = appendString(b, j.Func)
	b = appendString(b, j.Unique)
	b = appendString(b, j.Reducer)
	b = appendString(b, j.Schedule)
	if failures {
		b = binary.AppendUvarint(b, uint64(max(j.Failures, 0)))
		b = binary.AppendVarint(b, j.FirstFailed)
		b = binary.AppendVarint(b, j.LastFailed)
		b = append(b, boolByte(j.Dead))
		b = appendString(b, j.Error)
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// appendSmall appends a record of kind with the given uvarint fields.
func appendSmall(dst []byte, kind byte, fields ...uint64) []byte {
	return appendFrame(dst, func(b []byte) []byte {
		b = append(b, kind)
		for _, f := range fields {
			b = binary.AppendUvarint(b, f)
		}
		return b
	})
}

// record is one decoded record. Its byte fields alias the body.
type record struct {
	kind    byte
	id      uint64 // kindHeader: the segment's highest job id so far
	seq     uint64 // kindHeader: the highest seq so far
	seg     uint64 // kindHeader only
	retries uint64
	job     store.Job // kindCreate only, but for Func and Unique; Data aliases the body
	fn      []byte    // kindCreate: the job's function; aliases the body
	unique  []byte    // kindCreate: the job's unique id; aliases the body
}

// parseFrame reads the frame at the start of b; it returns the record's
// body and the frame's size, or ok false when b does not start with a
// whole, intact frame.
func parseFrame(b []byte) (body []byte, size int, ok bool) {
	if len(b) < frameHeader {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxBody || int64(n) > int64(len(b)-frameHeader) {
		return nil, 0, false
	}
	body = b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, false
	}
	return body, frameHeader + int(n), true
}

// decoder reads the fields of a body.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

// parseBody decodes a record's body.
func parseBody(body []byte) (record, error) {
	d := decoder{b: body[1:]}
	r := record{kind: body[0]}
	switch r.kind {
	case kindHeader:
		if v := d.byte(); v < minFormatVersion || v > formatVersion {
			return r, errors.New("unknown format version")
		}
		r.seg, r.id, r.seq = d.uvarint(), d.uvarint(), d.uvarint()
	case kindCreate, kindFailed:
		j := &r.job
		j.ID = d.uvarint()
		r.id = j.ID
		r.seq = d.uvarint()
		j.Priority = int8(d.byte())
		r.retries = d.uvarint()
		j.Retries = int32(min(r.retries, 1<<31-1))
		j.When = d.varint()
		j.Created = d.varint()
		r.fn = d.bytes()
		r.unique = d.bytes()
		j.Reducer = d.string()
		j.Schedule = d.string()
		if r.kind == kindFailed {
			j.Failures = int32(min(d.uvarint(), 1<<31-1))
			j.FirstFailed = d.varint()
			j.LastFailed = d.varint()
			switch d.byte() {
			case 0:
			case 1:
				j.Dead = true
			default:
				d.err = true
			}
			j.Error = d.string()
		}
		j.Data = d.b
		d.b = nil
		if j.Priority < 0 || j.Priority > 2 {
			d.err = true
		}
	case kindAssign, kindRunEnd, kindFinish:
		r.id = d.uvarint()
	case kindRequeue:
		r.id, r.seq, r.retries = d.uvarint(), d.uvarint(), d.uvarint()
	default:
		return r, errRecord
	}
	if d.err || len(d.b) != 0 {
		return r, errRecord
	}
	return r, nil
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
