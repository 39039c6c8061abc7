package wire

import "strconv"

// Type is the packet type carried in bytes 4 to 7 of a packet header.
type Type uint32

// The packet types of the Gearman binary protocol. Their String method gives
// the protocol's own name (SUBMIT_JOB, WORK_COMPLETE, ...). Number 5 is unused
// by the protocol and is not a valid type.
const (
	CanDo                     Type = 1
	CantDo                    Type = 2
	ResetAbilities            Type = 3
	PreSleep                  Type = 4
	Noop                      Type = 6
	SubmitJob                 Type = 7
	JobCreated                Type = 8
	GrabJob                   Type = 9
	NoJob                     Type = 10
	JobAssign                 Type = 11
	WorkStatus                Type = 12
	WorkComplete              Type = 13
	WorkFail                  Type = 14
	GetStatus                 Type = 15
	EchoReq                   Type = 16
	EchoRes                   Type = 17
	SubmitJobBg               Type = 18
	Error                     Type = 19
	StatusRes                 Type = 20
	SubmitJobHigh             Type = 21
	SetClientID               Type = 22
	CanDoTimeout              Type = 23
	AllYours                  Type = 24
	WorkException             Type = 25
	OptionReq                 Type = 26
	OptionRes                 Type = 27
	WorkData                  Type = 28
	WorkWarning               Type = 29
	GrabJobUniq               Type = 30
	JobAssignUniq             Type = 31
	SubmitJobHighBg           Type = 32
	SubmitJobLow              Type = 33
	SubmitJobLowBg            Type = 34
	SubmitJobSched            Type = 35
	SubmitJobEpoch            Type = 36
	SubmitReduceJob           Type = 37
	SubmitReduceJobBackground Type = 38
	GrabJobAll                Type = 39
	JobAssignAll              Type = 40
	GetStatusUnique           Type = 41
	StatusResUnique           Type = 42
)

// MaxType is the highest packet type the protocol defines.
const MaxType = StatusResUnique

// The packet types of the streaming extension, which this module adds to the
// protocol: payloads of any size sent in chunks after the submit, and
// per-job credit windows in both directions. They are numbered from
// [FirstExtType], well clear of the protocol's own, and may be sent only on
// a connection that negotiated them (OPTION_REQ stream-chunks). STREAMING.md
// beside this package is their specification.
const (
	SubmitStream    Type = 128 // client: stream id, submit type, function, first chunk
	StreamData      Type = 129 // one chunk of a payload: stream id (client) or handle (to a worker), data
	StreamEnd       Type = 130 // the payload is complete: stream id (client) or handle (to a worker)
	StreamAbort     Type = 131 // the payload will not complete: stream id (client) or handle (to a worker)
	JobAssignStream Type = 132 // handle, function, first chunk; STREAM_DATA and STREAM_END follow
	PayloadWindow   Type = 133 // payload credit: stream id and delta (to a client), handle and delta (from a worker)
	ResultWindow    Type = 134 // result credit: handle and delta (from a client, to a worker)
)

// FirstExtType and MaxExtType bound the streaming extension's types.
const (
	FirstExtType = SubmitStream
	MaxExtType   = ResultWindow
)

// StreamWindow is the streaming extension's initial credit window: 256 KiB
// for each job in each direction, at each hop, from the moment the job
// exists (STREAMING.md).
const StreamWindow = 256 << 10

// MaxUnique is the longest unique id, in bytes, a server takes in a submit
// (gearmand's GEARMAN_MAX_UNIQUE_SIZE).
const MaxUnique = 64

// MaxStreamID is the longest stream id, in bytes, a client may choose for
// SUBMIT_STREAM (STREAMING.md).
const MaxStreamID = 64

// MaxArgs is the largest number of arguments any packet type carries
// (SUBMIT_JOB_SCHED has eight).
const MaxArgs = 8

// Direction says who sends a packet type.
type Direction uint8

// Directions. A type sent both ways (the WORK_* packets, which a worker sends
// to the server and the server forwards to clients) has [Both].
const (
	ToServer Direction = 1 << iota // sent by clients and workers, with magic [Req]
	ToClient                       // sent by the server, with magic [Res]
	Both     = ToServer | ToClient
)

// String returns "to server", "to client" or "both ways".
func (d Direction) String() string {
	switch d {
	case ToServer:
		return "to server"
	case ToClient:
		return "to client"
	case Both:
		return "both ways"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

type typeInfo struct {
	name    string
	dir     Direction
	nargs   int8
	hasData bool       // the last argument is opaque data
	reply   replyKind  // a request: what answers it; a reply: what it answers
	submit  submitKind // whether and how it submits a job
	bg      bool       // a submit of a background job
	prio    Priority   // a plain submit's priority
}

// replyKind pairs requests with the replies that answer them: a reply
// answers a request of the same kind.
type replyKind uint8

const (
	noReply           replyKind = iota
	replyCreated                // SUBMIT_*: JOB_CREATED
	replyEcho                   // ECHO_REQ: ECHO_RES
	replyStatus                 // GET_STATUS: STATUS_RES
	replyStatusUnique           // GET_STATUS_UNIQUE: STATUS_RES_UNIQUE
	replyOption                 // OPTION_REQ: OPTION_RES
	replyJob                    // GRAB_JOB*: any JOB_ASSIGN*, or NO_JOB
)

// submitKind says whether and how a type submits a job.
type submitKind uint8

const (
	notSubmit    submitKind = iota
	plainSubmit             // SUBMIT_JOB[_HIGH|_LOW][_BG]: function, unique id, payload
	otherSubmit             // SUBMIT_JOB_EPOCH, SUBMIT_JOB_SCHED, SUBMIT_REDUCE_JOB*
	streamSubmit            // SUBMIT_STREAM: a plain submit's type is one of its arguments
)

// The protocol's facts about each packet type, in one place: this module's
// packages ask these methods instead of keeping lists of their own, and
// their tests check their views against this table.
var types = [...]typeInfo{
	CanDo:                     {"CAN_DO", ToServer, 1, false, noReply, notSubmit, false, PriorityNormal},
	CantDo:                    {"CANT_DO", ToServer, 1, false, noReply, notSubmit, false, PriorityNormal},
	ResetAbilities:            {"RESET_ABILITIES", ToServer, 0, false, noReply, notSubmit, false, PriorityNormal},
	PreSleep:                  {"PRE_SLEEP", ToServer, 0, false, noReply, notSubmit, false, PriorityNormal},
	Noop:                      {"NOOP", ToClient, 0, false, noReply, notSubmit, false, PriorityNormal},
	SubmitJob:                 {"SUBMIT_JOB", ToServer, 3, true, replyCreated, plainSubmit, false, PriorityNormal},
	JobCreated:                {"JOB_CREATED", ToClient, 1, false, replyCreated, notSubmit, false, PriorityNormal},
	GrabJob:                   {"GRAB_JOB", ToServer, 0, false, replyJob, notSubmit, false, PriorityNormal},
	NoJob:                     {"NO_JOB", ToClient, 0, false, replyJob, notSubmit, false, PriorityNormal},
	JobAssign:                 {"JOB_ASSIGN", ToClient, 3, true, replyJob, notSubmit, false, PriorityNormal},
	WorkStatus:                {"WORK_STATUS", Both, 3, false, noReply, notSubmit, false, PriorityNormal},
	WorkComplete:              {"WORK_COMPLETE", Both, 2, true, noReply, notSubmit, false, PriorityNormal},
	WorkFail:                  {"WORK_FAIL", Both, 1, false, noReply, notSubmit, false, PriorityNormal},
	GetStatus:                 {"GET_STATUS", ToServer, 1, false, replyStatus, notSubmit, false, PriorityNormal},
	EchoReq:                   {"ECHO_REQ", ToServer, 1, true, replyEcho, notSubmit, false, PriorityNormal},
	EchoRes:                   {"ECHO_RES", ToClient, 1, true, replyEcho, notSubmit, false, PriorityNormal},
	SubmitJobBg:               {"SUBMIT_JOB_BG", ToServer, 3, true, replyCreated, plainSubmit, true, PriorityNormal},
	Error:                     {"ERROR", ToClient, 2, false, noReply, notSubmit, false, PriorityNormal},
	StatusRes:                 {"STATUS_RES", ToClient, 5, false, replyStatus, notSubmit, false, PriorityNormal},
	SubmitJobHigh:             {"SUBMIT_JOB_HIGH", ToServer, 3, true, replyCreated, plainSubmit, false, PriorityHigh},
	SetClientID:               {"SET_CLIENT_ID", ToServer, 1, false, noReply, notSubmit, false, PriorityNormal},
	CanDoTimeout:              {"CAN_DO_TIMEOUT", ToServer, 2, false, noReply, notSubmit, false, PriorityNormal},
	AllYours:                  {"ALL_YOURS", ToServer, 0, false, noReply, notSubmit, false, PriorityNormal},
	WorkException:             {"WORK_EXCEPTION", Both, 2, true, noReply, notSubmit, false, PriorityNormal},
	OptionReq:                 {"OPTION_REQ", ToServer, 1, false, replyOption, notSubmit, false, PriorityNormal},
	OptionRes:                 {"OPTION_RES", ToClient, 1, false, replyOption, notSubmit, false, PriorityNormal},
	WorkData:                  {"WORK_DATA", Both, 2, true, noReply, notSubmit, false, PriorityNormal},
	WorkWarning:               {"WORK_WARNING", Both, 2, true, noReply, notSubmit, false, PriorityNormal},
	GrabJobUniq:               {"GRAB_JOB_UNIQ", ToServer, 0, false, replyJob, notSubmit, false, PriorityNormal},
	JobAssignUniq:             {"JOB_ASSIGN_UNIQ", ToClient, 4, true, replyJob, notSubmit, false, PriorityNormal},
	SubmitJobHighBg:           {"SUBMIT_JOB_HIGH_BG", ToServer, 3, true, replyCreated, plainSubmit, true, PriorityHigh},
	SubmitJobLow:              {"SUBMIT_JOB_LOW", ToServer, 3, true, replyCreated, plainSubmit, false, PriorityLow},
	SubmitJobLowBg:            {"SUBMIT_JOB_LOW_BG", ToServer, 3, true, replyCreated, plainSubmit, true, PriorityLow},
	SubmitJobSched:            {"SUBMIT_JOB_SCHED", ToServer, 8, true, replyCreated, otherSubmit, true, PriorityNormal},
	SubmitJobEpoch:            {"SUBMIT_JOB_EPOCH", ToServer, 4, true, replyCreated, otherSubmit, true, PriorityNormal},
	SubmitReduceJob:           {"SUBMIT_REDUCE_JOB", ToServer, 5, true, replyCreated, otherSubmit, false, PriorityNormal},
	SubmitReduceJobBackground: {"SUBMIT_REDUCE_JOB_BACKGROUND", ToServer, 5, true, replyCreated, otherSubmit, true, PriorityNormal},
	GrabJobAll:                {"GRAB_JOB_ALL", ToServer, 0, false, replyJob, notSubmit, false, PriorityNormal},
	JobAssignAll:              {"JOB_ASSIGN_ALL", ToClient, 5, true, replyJob, notSubmit, false, PriorityNormal},
	GetStatusUnique:           {"GET_STATUS_UNIQUE", ToServer, 1, false, replyStatusUnique, notSubmit, false, PriorityNormal},
	StatusResUnique:           {"STATUS_RES_UNIQUE", ToClient, 6, false, replyStatusUnique, notSubmit, false, PriorityNormal},

	SubmitStream:    {"SUBMIT_STREAM", ToServer, 4, true, replyCreated, streamSubmit, false, PriorityNormal},
	StreamData:      {"STREAM_DATA", Both, 2, true, noReply, notSubmit, false, PriorityNormal},
	StreamEnd:       {"STREAM_END", Both, 1, false, noReply, notSubmit, false, PriorityNormal},
	StreamAbort:     {"STREAM_ABORT", Both, 1, false, noReply, notSubmit, false, PriorityNormal},
	JobAssignStream: {"JOB_ASSIGN_STREAM", ToClient, 3, true, replyJob, notSubmit, false, PriorityNormal},
	PayloadWindow:   {"PAYLOAD_WINDOW", Both, 2, false, noReply, notSubmit, false, PriorityNormal},
	ResultWindow:    {"RESULT_WINDOW", Both, 2, false, noReply, notSubmit, false, PriorityNormal},
}

// Valid reports whether t is a packet type of the protocol (1 to 42, not 5)
// or of the streaming extension (128 to 134).
func (t Type) Valid() bool {
	return t < Type(len(types)) && types[t].name != ""
}

// IsExt reports whether t is a packet type of the streaming extension.
func (t Type) IsExt() bool { return t >= FirstExtType && t <= MaxExtType }

// String returns the protocol name of t, such as "SUBMIT_JOB", or
// "UNKNOWN_TYPE_n" for a number the protocol does not define.
func (t Type) String() string {
	if t.Valid() {
		return types[t].name
	}
	return "UNKNOWN_TYPE_" + strconv.FormatUint(uint64(t), 10)
}

// Direction reports who sends packets of type t; it is 0 for an invalid type.
func (t Type) Direction() Direction {
	if t.Valid() {
		return types[t].dir
	}
	return 0
}

// NArgs returns the number of arguments a packet of type t carries, counting
// the data argument; it is 0 for an invalid type.
func (t Type) NArgs() int {
	if t.Valid() {
		return int(types[t].nargs)
	}
	return 0
}

// HasData reports whether the last argument of type t is opaque data (a job's
// payload or result, or an echo), which may hold NUL bytes and may be large.
func (t Type) HasData() bool {
	return t.Valid() && types[t].hasData
}

// Priority is a job's priority as its submit type gives it. The zero value
// is [PriorityNormal].
type Priority uint8

// Priorities: a server hands out high jobs before normal ones, and normal
// before low.
const (
	PriorityNormal Priority = iota
	PriorityHigh
	PriorityLow
)

// String returns "normal", "high" or "low".
func (p Priority) String() string {
	switch p {
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityLow:
		return "low"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// IsSubmit reports whether t submits a job, which the server answers with
// JOB_CREATED (or ERROR): the ten SUBMIT_* types of the protocol and
// SUBMIT_STREAM.
func (t Type) IsSubmit() bool {
	return t.Valid() && types[t].submit != notSubmit
}

// PlainSubmit reports whether t is one of the six plain submit types
// (SUBMIT_JOB, SUBMIT_JOB_BG, SUBMIT_JOB_HIGH, SUBMIT_JOB_HIGH_BG,
// SUBMIT_JOB_LOW, SUBMIT_JOB_LOW_BG), whose arguments are the function, the
// unique id and the payload: the types a SUBMIT_STREAM may carry.
func (t Type) PlainSubmit() bool {
	return t.Valid() && types[t].submit == plainSubmit
}

// Background reports whether t submits a background job: a plain _BG
// submit, SUBMIT_JOB_EPOCH, SUBMIT_JOB_SCHED or
// SUBMIT_REDUCE_JOB_BACKGROUND. For SUBMIT_STREAM it is false: the plain
// submit type it carries says.
func (t Type) Background() bool {
	return t.Valid() && types[t].bg
}

// Priority returns the priority of a job submitted with type t: high or low
// for the _HIGH and _LOW submits, normal for every other type (SUBMIT_STREAM
// carries the plain submit type that says).
func (t Type) Priority() Priority {
	if t.Valid() {
		return types[t].prio
	}
	return PriorityNormal
}

// SubmitType returns the plain submit type of a job of priority p, in the
// background or not; 0, not a valid type, for an unknown priority.
func SubmitType(p Priority, background bool) Type {
	for _, t := range [...]Type{SubmitJob, SubmitJobBg, SubmitJobHigh, SubmitJobHighBg, SubmitJobLow, SubmitJobLowBg} {
		if types[t].prio == p && types[t].bg == background {
			return t
		}
	}
	return 0
}

// Answers reports whether a packet of type t, sent by the server, answers a
// request of type req: JOB_CREATED a submit, ECHO_RES an ECHO_REQ,
// STATUS_RES a GET_STATUS, STATUS_RES_UNIQUE a GET_STATUS_UNIQUE,
// OPTION_RES an OPTION_REQ, and NO_JOB or any JOB_ASSIGN type any grab.
// ERROR may answer any request, and is not counted here.
func (t Type) Answers(req Type) bool {
	if !t.Valid() || !req.Valid() || t.Direction()&ToClient == 0 || req.Direction()&ToServer == 0 {
		return false
	}
	k := types[t].reply
	return k != noReply && k == types[req].reply
}

// IsGrab reports whether t asks the server for a job: GRAB_JOB,
// GRAB_JOB_UNIQ or GRAB_JOB_ALL.
func (t Type) IsGrab() bool {
	return t.Valid() && t.Direction() == ToServer && types[t].reply == replyJob
}
