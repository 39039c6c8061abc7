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
	hasData bool // the last argument is opaque data
}

var types = [...]typeInfo{
	CanDo:                     {"CAN_DO", ToServer, 1, false},
	CantDo:                    {"CANT_DO", ToServer, 1, false},
	ResetAbilities:            {"RESET_ABILITIES", ToServer, 0, false},
	PreSleep:                  {"PRE_SLEEP", ToServer, 0, false},
	Noop:                      {"NOOP", ToClient, 0, false},
	SubmitJob:                 {"SUBMIT_JOB", ToServer, 3, true},
	JobCreated:                {"JOB_CREATED", ToClient, 1, false},
	GrabJob:                   {"GRAB_JOB", ToServer, 0, false},
	NoJob:                     {"NO_JOB", ToClient, 0, false},
	JobAssign:                 {"JOB_ASSIGN", ToClient, 3, true},
	WorkStatus:                {"WORK_STATUS", Both, 3, false},
	WorkComplete:              {"WORK_COMPLETE", Both, 2, true},
	WorkFail:                  {"WORK_FAIL", Both, 1, false},
	GetStatus:                 {"GET_STATUS", ToServer, 1, false},
	EchoReq:                   {"ECHO_REQ", ToServer, 1, true},
	EchoRes:                   {"ECHO_RES", ToClient, 1, true},
	SubmitJobBg:               {"SUBMIT_JOB_BG", ToServer, 3, true},
	Error:                     {"ERROR", ToClient, 2, false},
	StatusRes:                 {"STATUS_RES", ToClient, 5, false},
	SubmitJobHigh:             {"SUBMIT_JOB_HIGH", ToServer, 3, true},
	SetClientID:               {"SET_CLIENT_ID", ToServer, 1, false},
	CanDoTimeout:              {"CAN_DO_TIMEOUT", ToServer, 2, false},
	AllYours:                  {"ALL_YOURS", ToServer, 0, false},
	WorkException:             {"WORK_EXCEPTION", Both, 2, true},
	OptionReq:                 {"OPTION_REQ", ToServer, 1, false},
	OptionRes:                 {"OPTION_RES", ToClient, 1, false},
	WorkData:                  {"WORK_DATA", Both, 2, true},
	WorkWarning:               {"WORK_WARNING", Both, 2, true},
	GrabJobUniq:               {"GRAB_JOB_UNIQ", ToServer, 0, false},
	JobAssignUniq:             {"JOB_ASSIGN_UNIQ", ToClient, 4, true},
	SubmitJobHighBg:           {"SUBMIT_JOB_HIGH_BG", ToServer, 3, true},
	SubmitJobLow:              {"SUBMIT_JOB_LOW", ToServer, 3, true},
	SubmitJobLowBg:            {"SUBMIT_JOB_LOW_BG", ToServer, 3, true},
	SubmitJobSched:            {"SUBMIT_JOB_SCHED", ToServer, 8, true},
	SubmitJobEpoch:            {"SUBMIT_JOB_EPOCH", ToServer, 4, true},
	SubmitReduceJob:           {"SUBMIT_REDUCE_JOB", ToServer, 5, true},
	SubmitReduceJobBackground: {"SUBMIT_REDUCE_JOB_BACKGROUND", ToServer, 5, true},
	GrabJobAll:                {"GRAB_JOB_ALL", ToServer, 0, false},
	JobAssignAll:              {"JOB_ASSIGN_ALL", ToClient, 5, true},
	GetStatusUnique:           {"GET_STATUS_UNIQUE", ToServer, 1, false},
	StatusResUnique:           {"STATUS_RES_UNIQUE", ToClient, 6, false},

	SubmitStream:    {"SUBMIT_STREAM", ToServer, 4, true},
	StreamData:      {"STREAM_DATA", Both, 2, true},
	StreamEnd:       {"STREAM_END", Both, 1, false},
	StreamAbort:     {"STREAM_ABORT", Both, 1, false},
	JobAssignStream: {"JOB_ASSIGN_STREAM", ToClient, 3, true},
	PayloadWindow:   {"PAYLOAD_WINDOW", Both, 2, false},
	ResultWindow:    {"RESULT_WINDOW", Both, 2, false},
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
