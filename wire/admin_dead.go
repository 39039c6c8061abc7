package wire

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The answers of this package's server's commands for failed jobs (see
// ADMIN.md): "show dead" and "cluster status". gearmand has neither.

// DeadLetterInfo is one line of the "show dead" answer.
type DeadLetterInfo struct {
	Handle   string
	Function string
	Unique   string // its control characters sent as spaces
	Attempts int    // failed attempts
	First    time.Time
	Last     time.Time
	Error    string // the last failure's reason, its control characters sent as spaces
}

// AppendDeadLetter appends d as a line of the "show dead" answer, with its
// line end: HANDLE\tFUNCTION\tUNIQUE\tATTEMPTS\tFIRST\tLAST\tERROR, the
// times in RFC 3339 (UTC, seconds), a control character of the unique id
// or the error as a space.
func AppendDeadLetter(b []byte, d DeadLetterInfo) []byte {
	b = append(append(b, d.Handle...), '\t')
	b = append(append(b, d.Function...), '\t')
	b = append(append(b, printable(d.Unique)...), '\t')
	b = append(strconv.AppendInt(b, int64(d.Attempts), 10), '\t')
	b = append(d.First.UTC().AppendFormat(b, time.RFC3339), '\t')
	b = append(d.Last.UTC().AppendFormat(b, time.RFC3339), '\t')
	return append(append(b, printable(d.Error)...), '\n')
}

// ParseShowDead reads one line of the "show dead" answer (see
// AppendDeadLetter).
func ParseShowDead(line []byte) (DeadLetterInfo, error) {
	var f [7]string
	if err := splitTabs(line, f[:], "show dead"); err != nil {
		return DeadLetterInfo{}, err
	}
	d := DeadLetterInfo{Handle: f[0], Function: f[1], Unique: f[2], Error: f[6]}
	if err := atois("show dead", f[3:4], &d.Attempts); err != nil {
		return DeadLetterInfo{}, err
	}
	for i, t := range []*time.Time{&d.First, &d.Last} {
		v, err := time.Parse(time.RFC3339, f[4+i])
		if err != nil {
			return DeadLetterInfo{}, fmt.Errorf("%w: show dead field %d is %q, not a time", ErrBadReply, 5+i, f[4+i])
		}
		*t = v
	}
	return d, nil
}

// ClusterFunction is one line of the "cluster status" answer: a function's
// jobs in a cluster's shared queue.
type ClusterFunction struct {
	Function string
	Queued   int // free, and their time has come
	Held     int // claimed by a server, waiting there for a worker
	Running  int
	Waiting  int // free, their time not yet come
	Dead     int // dead letters
}

// AppendClusterFunction appends f as a line of the "cluster status"
// answer, with its line end:
// FUNCTION\tQUEUED\tHELD\tRUNNING\tWAITING\tDEAD.
func AppendClusterFunction(b []byte, f ClusterFunction) []byte {
	b = append(b, f.Function...)
	for _, n := range []int{f.Queued, f.Held, f.Running, f.Waiting, f.Dead} {
		b = strconv.AppendInt(append(b, '\t'), int64(n), 10)
	}
	return append(b, '\n')
}

// ParseClusterStatus reads one line of the "cluster status" answer.
func ParseClusterStatus(line []byte) (ClusterFunction, error) {
	var f [6]string
	if err := splitTabs(line, f[:], "cluster status"); err != nil {
		return ClusterFunction{}, err
	}
	c := ClusterFunction{Function: f[0]}
	err := atois("cluster status", f[1:], &c.Queued, &c.Held, &c.Running, &c.Waiting, &c.Dead)
	return c, err
}

// printable returns v with its control characters as spaces, for a field
// of a tab-separated line.
func printable(v string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, v)
}
