package gearman

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// Priority is a job's priority: the server hands out High jobs before
// Normal ones, and Normal before Low, first in first out within each.
type Priority int8

// Priorities. The zero value is Normal.
const (
	Normal Priority = iota
	High
	Low
)

// String returns "normal", "high" or "low".
func (p Priority) String() string {
	switch p {
	case Normal:
		return "normal"
	case High:
		return "high"
	case Low:
		return "low"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// MaxUniqueLen is the longest unique id a job may carry (gearmand's limit).
const MaxUniqueLen = 64

// Job describes a job to submit. The zero values of its optional fields ask
// for a plain foreground job of normal priority.
type Job struct {
	// Func is the function name workers registered; required. A name with
	// a space or a control character, which would break the job server's
	// admin protocol (see [wire.ValidFunctionName]), is refused before
	// anything is sent, with a [*NameError].
	Func string
	// Data is the payload, for Submit. Tasks from Open take the payload from
	// their Write calls instead.
	Data []byte
	// Unique is the job's unique id: a job submitted while another of the
	// same function and unique id is queued or running joins it instead of
	// running twice. Empty means none. At most MaxUniqueLen bytes.
	Unique string
	// Priority orders the job among queued jobs.
	Priority Priority
	// Background submits the job without waiting for its result: the
	// submit returns once the server has queued it.
	Background bool
	// At runs the job at that time (SUBMIT_JOB_EPOCH, to the second). Only
	// for background jobs of normal priority. This package's [Server] wakes
	// sleeping workers when the job is due. gearmand (1.1) does not hand
	// it out before its time either, but nothing wakes sleeping workers
	// when the time comes: the job runs only when a worker next asks for
	// work (one that connects, or that another job wakes), so with idle
	// workers it waits, counted in "status", however long that takes.
	At time.Time
	// Schedule makes the job recurring (SUBMIT_JOB_SCHED), on servers that
	// support it (this package's; not gearmand). Only for background jobs
	// of normal priority.
	Schedule *Schedule
	// Reducer names the reducer of a map/reduce job (SUBMIT_REDUCE_JOB).
	// Only for normal priority.
	Reducer string
	// Size, for a task from Open, declares the payload's exact length up
	// front, so that it streams to the server as it is written, in one
	// submit packet of that length, instead of being held until Close: the
	// abraxas way, which every server understands (servers that do not
	// stream take the job once the packet is whole). A Pool sends such a
	// task on a connection of its own, so no other task waits behind the
	// payload; on a Conn, other packets wait until it is complete. Writing
	// more than Size bytes, or closing before Size bytes, fails the task and
	// the connection carrying it (its packet can never be completed). On a
	// connection with the streaming extension the payload streams in chunks
	// instead, with the same check. Zero means undeclared.
	Size int64
	// AssignTimeout bounds the time from the job's creation on the server
	// (JOB_CREATED) until a worker takes it. When it expires first, the
	// client withdraws the job from the server's queue (the admin "cancel
	// job", which gearmand and this package's [Server] both obey; see
	// [TimeoutError]) and the job ends with a [*TimeoutError] matching
	// [ErrAssignTimeout]: it never ran. A job with a Unique id is not
	// withdrawn, as other clients may wait on it too: it fails for this
	// client only. Only for foreground jobs. Zero means no limit. The
	// context passed to the submit bounds everything still.
	AssignTimeout time.Duration
	// RunTimeout bounds the time the job runs, from when the client learns
	// that a worker took it. This package's [Server] tells it at the
	// assignment: the connection asks for that (OPTION_REQ job-assigned,
	// see [wire.OptionAssigned]) once, before its first job with a
	// RunTimeout, and sends no GET_STATUS for it. gearmand tells nothing
	// of the kind, so there the client counts from the worker's first
	// WORK_DATA, WORK_STATUS or WORK_WARNING, or from a GET_STATUS answer
	// that says the job runs, asked every tenth of RunTimeout (50ms to
	// 500ms apart) until one does. The job is never failed before it ran
	// RunTimeout; on gearmand, at most one such interval after.
	// It then ends with a [*TimeoutError] matching [ErrRunTimeout]; its
	// worker is not stopped and its result goes nowhere (a worker's
	// [RegisterOptions.Timeout] has the server give up on the worker's
	// side). Only for foreground jobs. Zero means no limit.
	RunTimeout time.Duration
}

// Schedule is the recurrence of a scheduled job (SUBMIT_JOB_SCHED), like the
// five time fields of a crontab line, read in UTC by this package's
// [Server]: Minute (0-59), Hour (0-23), DayOfMonth (1-31), Month (1-12) and
// DayOfWeek (0-6, Sunday is 0 or 7). Each field is empty or "*" for any
// value, a number, a range "a-b", a step "*/n" or "a-b/n", or a
// comma-separated list of those ("0,30", "9-17", "*/5"). As in cron, when
// both day fields are restricted, a day matching either qualifies. The
// server refuses a malformed field, or a schedule that never matches
// (February 30), with a [*ServerError]. The client sends the fields as
// they are. gearmand refuses every scheduled job (ERROR INVALID_COMMAND).
type Schedule struct {
	Minute, Hour, DayOfMonth, Month, DayOfWeek string
}

// Status is a progress report of a running job: Numerator of Denominator.
type Status struct {
	Numerator, Denominator int64
}

// JobStatus is the server's answer to a status query.
type JobStatus struct {
	Handle  string // the job's handle (empty for a query by unique id)
	Unique  string // the unique id asked about (empty for a query by handle)
	Known   bool   // the server knows the job
	Running bool   // a worker holds it
	Status         // its last progress report
	Waiting int    // clients waiting on it (only from a query by unique id)
}

// packetType returns the submit packet for j and checks its fields.
func (j *Job) packetType() (wire.Type, error) {
	bad := func(why string) (wire.Type, error) {
		return 0, fmt.Errorf("gearman: job for %q: %s", j.Func, why)
	}
	if err := checkFunctionName("function name", j.Func); err != nil {
		return 0, err
	}
	if j.Reducer != "" {
		if err := checkFunctionName("reducer", j.Reducer); err != nil {
			return 0, err
		}
	}
	switch {
	case len(j.Unique) > MaxUniqueLen:
		return bad(fmt.Sprintf("unique id of %d bytes is longer than %d", len(j.Unique), MaxUniqueLen))
	case bytes.IndexByte([]byte(j.Unique), 0) >= 0:
		return bad("unique id holds a NUL byte")
	case j.Priority < Normal || j.Priority > Low:
		return bad(fmt.Sprintf("invalid priority %d", j.Priority))
	case j.Size < 0 || j.Size > 1<<32-1-1<<16:
		return bad(fmt.Sprintf("declared payload size %d out of range", j.Size))
	case j.Size > 0 && int64(len(j.Data)) > j.Size:
		return bad(fmt.Sprintf("Data of %d bytes is longer than the declared Size of %d", len(j.Data), j.Size))
	case j.AssignTimeout < 0 || j.RunTimeout < 0:
		return bad("negative AssignTimeout or RunTimeout")
	case j.Background && j.timed():
		return bad("AssignTimeout and RunTimeout are for foreground jobs (a background job's client does not wait for it)")
	}
	special := 0
	for _, on := range []bool{!j.At.IsZero(), j.Schedule != nil, j.Reducer != ""} {
		if on {
			special++
		}
	}
	if special > 1 {
		return bad("At, Schedule and Reducer exclude one another")
	}
	if special == 1 && j.Priority != Normal {
		return bad("At, Schedule and Reducer jobs have normal priority only")
	}
	switch {
	case !j.At.IsZero():
		if !j.Background {
			return bad("a job with At must be a background job")
		}
		return wire.SubmitJobEpoch, nil
	case j.Schedule != nil:
		if !j.Background {
			return bad("a scheduled job must be a background job")
		}
		return wire.SubmitJobSched, nil
	case j.Reducer != "":
		if bytes.IndexByte([]byte(j.Reducer), 0) >= 0 {
			return bad("reducer name holds a NUL byte")
		}
		if j.Background {
			return wire.SubmitReduceJobBackground, nil
		}
		return wire.SubmitReduceJob, nil
	}
	return wire.SubmitType(j.Priority.wire(), j.Background), nil
}

// wire returns the priority's name in package wire.
func (p Priority) wire() wire.Priority {
	switch p {
	case High:
		return wire.PriorityHigh
	case Low:
		return wire.PriorityLow
	}
	return wire.PriorityNormal
}

// leadingArgs returns the arguments of j's submit packet before the payload.
func (j *Job) leadingArgs(t wire.Type) [][]byte {
	fn, uq := []byte(j.Func), []byte(j.Unique)
	switch t {
	case wire.SubmitJobEpoch:
		return [][]byte{fn, uq, strconv.AppendInt(nil, j.At.Unix(), 10)}
	case wire.SubmitJobSched:
		s := j.Schedule
		return [][]byte{fn, uq, []byte(s.Minute), []byte(s.Hour), []byte(s.DayOfMonth), []byte(s.Month), []byte(s.DayOfWeek)}
	case wire.SubmitReduceJob, wire.SubmitReduceJobBackground:
		return [][]byte{fn, uq, []byte(j.Reducer), nil}
	}
	return [][]byte{fn, uq, nil}[:2] // room for the payload
}

// parseNumber reads a decimal number from a status packet; peers send
// fractions ("33.3"), which are cut to their integer part.
func parseNumber(b []byte) int64 {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err == nil {
		return n
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0
	}
	return int64(f)
}

var errNoHandle = errors.New("gearman: the server sent an empty job handle")
