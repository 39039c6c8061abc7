package wire_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seed749d6d6d/gearman/wire"
)

// golden is one packet and its bytes on the wire, written out by hand from
// PROTOCOL.md and notes/gearmand.md §2 (not produced by our encoder).
type golden struct {
	name  string
	magic wire.Magic
	typ   wire.Type
	args  []string
	wire  string
}

// goldens holds one packet of each of the 41 types, in type order.
var goldens = []golden{
	{"CAN_DO", wire.Req, wire.CanDo, []string{"upper"},
		"\x00REQ\x00\x00\x00\x01\x00\x00\x00\x05upper"},
	{"CANT_DO", wire.Req, wire.CantDo, []string{"upper"},
		"\x00REQ\x00\x00\x00\x02\x00\x00\x00\x05upper"},
	{"RESET_ABILITIES", wire.Req, wire.ResetAbilities, nil,
		"\x00REQ\x00\x00\x00\x03\x00\x00\x00\x00"},
	{"PRE_SLEEP", wire.Req, wire.PreSleep, nil,
		"\x00REQ\x00\x00\x00\x04\x00\x00\x00\x00"},
	{"NOOP", wire.Res, wire.Noop, nil,
		"\x00RES\x00\x00\x00\x06\x00\x00\x00\x00"},
	{"SUBMIT_JOB", wire.Req, wire.SubmitJob, []string{"upper", "u7", "abc"},
		"\x00REQ\x00\x00\x00\x07\x00\x00\x00\x0cupper\x00u7\x00abc"},
	{"JOB_CREATED", wire.Res, wire.JobCreated, []string{"H:box:12"},
		"\x00RES\x00\x00\x00\x08\x00\x00\x00\x08H:box:12"},
	{"GRAB_JOB", wire.Req, wire.GrabJob, nil,
		"\x00REQ\x00\x00\x00\x09\x00\x00\x00\x00"},
	{"NO_JOB", wire.Res, wire.NoJob, nil,
		"\x00RES\x00\x00\x00\x0a\x00\x00\x00\x00"},
	// Data holding a NUL byte.
	{"JOB_ASSIGN", wire.Res, wire.JobAssign, []string{"H:box:12", "upper", "a\x00b"},
		"\x00RES\x00\x00\x00\x0b\x00\x00\x00\x12H:box:12\x00upper\x00a\x00b"},
	{"WORK_STATUS", wire.Req, wire.WorkStatus, []string{"H:box:12", "1", "2"},
		"\x00REQ\x00\x00\x00\x0c\x00\x00\x00\x0cH:box:12\x001\x002"},
	{"WORK_COMPLETE", wire.Req, wire.WorkComplete, []string{"H:box:12", "ABC"},
		"\x00REQ\x00\x00\x00\x0d\x00\x00\x00\x0cH:box:12\x00ABC"},
	{"WORK_FAIL", wire.Res, wire.WorkFail, []string{"H:box:12"},
		"\x00RES\x00\x00\x00\x0e\x00\x00\x00\x08H:box:12"},
	{"GET_STATUS", wire.Req, wire.GetStatus, []string{"H:box:12"},
		"\x00REQ\x00\x00\x00\x0f\x00\x00\x00\x08H:box:12"},
	// The whole body is data, starting and ending with NUL.
	{"ECHO_REQ", wire.Req, wire.EchoReq, []string{"\x00ping\x00"},
		"\x00REQ\x00\x00\x00\x10\x00\x00\x00\x06\x00ping\x00"},
	{"ECHO_RES", wire.Res, wire.EchoRes, []string{"\x00ping\x00"},
		"\x00RES\x00\x00\x00\x11\x00\x00\x00\x06\x00ping\x00"},
	// An empty unique: two NULs in a row.
	{"SUBMIT_JOB_BG", wire.Req, wire.SubmitJobBg, []string{"upper", "", "abc"},
		"\x00REQ\x00\x00\x00\x12\x00\x00\x00\x0aupper\x00\x00abc"},
	{"ERROR", wire.Res, wire.Error, []string{"JOB_NOT_FOUND", "Job does not exist on server"},
		"\x00RES\x00\x00\x00\x13\x00\x00\x00\x2aJOB_NOT_FOUND\x00Job does not exist on server"},
	{"STATUS_RES", wire.Res, wire.StatusRes, []string{"H:box:12", "1", "0", "0", "0"},
		"\x00RES\x00\x00\x00\x14\x00\x00\x00\x10H:box:12\x001\x000\x000\x000"},
	{"SUBMIT_JOB_HIGH", wire.Req, wire.SubmitJobHigh, []string{"upper", "u7", "abc"},
		"\x00REQ\x00\x00\x00\x15\x00\x00\x00\x0cupper\x00u7\x00abc"},
	{"SET_CLIENT_ID", wire.Req, wire.SetClientID, []string{"worker-A"},
		"\x00REQ\x00\x00\x00\x16\x00\x00\x00\x08worker-A"},
	{"CAN_DO_TIMEOUT", wire.Req, wire.CanDoTimeout, []string{"upper", "30000"},
		"\x00REQ\x00\x00\x00\x17\x00\x00\x00\x0bupper\x0030000"},
	{"ALL_YOURS", wire.Req, wire.AllYours, nil,
		"\x00REQ\x00\x00\x00\x18\x00\x00\x00\x00"},
	{"WORK_EXCEPTION", wire.Req, wire.WorkException, []string{"H:box:12", "boom"},
		"\x00REQ\x00\x00\x00\x19\x00\x00\x00\x0dH:box:12\x00boom"},
	{"OPTION_REQ", wire.Req, wire.OptionReq, []string{"exceptions"},
		"\x00REQ\x00\x00\x00\x1a\x00\x00\x00\x0aexceptions"},
	{"OPTION_RES", wire.Res, wire.OptionRes, []string{"exceptions"},
		"\x00RES\x00\x00\x00\x1b\x00\x00\x00\x0aexceptions"},
	// Empty data: the body ends with the handle's NUL.
	{"WORK_DATA", wire.Res, wire.WorkData, []string{"H:box:12", ""},
		"\x00RES\x00\x00\x00\x1c\x00\x00\x00\x09H:box:12\x00"},
	{"WORK_WARNING", wire.Res, wire.WorkWarning, []string{"H:box:12", "careful"},
		"\x00RES\x00\x00\x00\x1d\x00\x00\x00\x10H:box:12\x00careful"},
	{"GRAB_JOB_UNIQ", wire.Req, wire.GrabJobUniq, nil,
		"\x00REQ\x00\x00\x00\x1e\x00\x00\x00\x00"},
	// gearmand's JOB_ASSIGN_UNIQ for a job without unique: two NULs in a row.
	{"JOB_ASSIGN_UNIQ", wire.Res, wire.JobAssignUniq, []string{"H:box:12", "upper", "", "abc"},
		"\x00RES\x00\x00\x00\x1f\x00\x00\x00\x13H:box:12\x00upper\x00\x00abc"},
	{"SUBMIT_JOB_HIGH_BG", wire.Req, wire.SubmitJobHighBg, []string{"upper", "u7", "abc"},
		"\x00REQ\x00\x00\x00\x20\x00\x00\x00\x0cupper\x00u7\x00abc"},
	{"SUBMIT_JOB_LOW", wire.Req, wire.SubmitJobLow, []string{"upper", "u7", "abc"},
		"\x00REQ\x00\x00\x00\x21\x00\x00\x00\x0cupper\x00u7\x00abc"},
	{"SUBMIT_JOB_LOW_BG", wire.Req, wire.SubmitJobLowBg, []string{"upper", "u7", "abc"},
		"\x00REQ\x00\x00\x00\x22\x00\x00\x00\x0cupper\x00u7\x00abc"},
	{"SUBMIT_JOB_SCHED", wire.Req, wire.SubmitJobSched, []string{"upper", "u7", "30", "12", "1", "6", "0", "abc"},
		"\x00REQ\x00\x00\x00\x23\x00\x00\x00\x18upper\x00u7\x0030\x0012\x001\x006\x000\x00abc"},
	{"SUBMIT_JOB_EPOCH", wire.Req, wire.SubmitJobEpoch, []string{"upper", "u7", "1700000000", "abc"},
		"\x00REQ\x00\x00\x00\x24\x00\x00\x00\x17upper\x00u7\x001700000000\x00abc"},
	{"SUBMIT_REDUCE_JOB", wire.Req, wire.SubmitReduceJob, []string{"upper", "u7", "count", "", "abc"},
		"\x00REQ\x00\x00\x00\x25\x00\x00\x00\x13upper\x00u7\x00count\x00\x00abc"},
	{"SUBMIT_REDUCE_JOB_BACKGROUND", wire.Req, wire.SubmitReduceJobBackground, []string{"upper", "u7", "count", "", "abc"},
		"\x00REQ\x00\x00\x00\x26\x00\x00\x00\x13upper\x00u7\x00count\x00\x00abc"},
	{"GRAB_JOB_ALL", wire.Req, wire.GrabJobAll, nil,
		"\x00REQ\x00\x00\x00\x27\x00\x00\x00\x00"},
	{"JOB_ASSIGN_ALL", wire.Res, wire.JobAssignAll, []string{"H:box:12", "upper", "u7", "count", "abc"},
		"\x00RES\x00\x00\x00\x28\x00\x00\x00\x1bH:box:12\x00upper\x00u7\x00count\x00abc"},
	{"GET_STATUS_UNIQUE", wire.Req, wire.GetStatusUnique, []string{"u7"},
		"\x00REQ\x00\x00\x00\x29\x00\x00\x00\x02u7"},
	{"STATUS_RES_UNIQUE", wire.Res, wire.StatusResUnique, []string{"u7", "1", "1", "3", "4", "2"},
		"\x00RES\x00\x00\x00\x2a\x00\x00\x00\x0cu7\x001\x001\x003\x004\x002"},
	// The streaming extension (STREAMING.md).
	{"SUBMIT_STREAM", wire.Req, wire.SubmitStream, []string{"1", "7", "upper", "abc"},
		"\x00REQ\x00\x00\x00\x80\x00\x00\x00\x0d1\x007\x00upper\x00abc"},
	{"STREAM_DATA", wire.Req, wire.StreamData, []string{"1", "a\x00c"},
		"\x00REQ\x00\x00\x00\x81\x00\x00\x00\x051\x00a\x00c"},
	{"STREAM_END", wire.Res, wire.StreamEnd, []string{"H:box:12"},
		"\x00RES\x00\x00\x00\x82\x00\x00\x00\x08H:box:12"},
	{"STREAM_ABORT", wire.Req, wire.StreamAbort, []string{"1"},
		"\x00REQ\x00\x00\x00\x83\x00\x00\x00\x011"},
	{"JOB_ASSIGN_STREAM", wire.Res, wire.JobAssignStream, []string{"H:box:12", "upper", "abc"},
		"\x00RES\x00\x00\x00\x84\x00\x00\x00\x12H:box:12\x00upper\x00abc"},
	{"PAYLOAD_WINDOW", wire.Res, wire.PayloadWindow, []string{"1", "131072"},
		"\x00RES\x00\x00\x00\x85\x00\x00\x00\x081\x00131072"},
	{"RESULT_WINDOW", wire.Req, wire.ResultWindow, []string{"H:box:12", "131072"},
		"\x00REQ\x00\x00\x00\x86\x00\x00\x00\x0fH:box:12\x00131072"},
}

// decoded is what a test compares: a Packet with its Args as strings.
type decoded struct {
	Magic wire.Magic
	Type  wire.Type
	Args  []string
}

func decode(p wire.Packet) decoded {
	d := decoded{Magic: p.Magic, Type: p.Type}
	for _, a := range p.Args {
		d.Args = append(d.Args, string(a))
	}
	return d
}

func byteArgs(args []string) [][]byte {
	var b [][]byte
	for _, a := range args {
		b = append(b, []byte(a))
	}
	return b
}

func TestGoldenCoversEveryType(t *testing.T) {
	seen := map[wire.Type]bool{}
	for _, g := range goldens {
		seen[g.typ] = true
	}
	for typ := wire.Type(0); typ <= wire.MaxExtType+1; typ++ {
		if typ.Valid() != seen[typ] {
			t.Errorf("type %d: valid %v, has a golden packet %v", uint32(typ), typ.Valid(), seen[typ])
		}
	}
	if len(goldens) != 48 {
		t.Errorf("got %d golden packets; want 48 (41 + 7 of the extension)", len(goldens))
	}
}

func TestAppendPacketGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := wire.AppendPacket(prefix, g.magic, g.typ, byteArgs(g.args)...)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			if string(got) != "prefix"+g.wire {
				t.Errorf("got %q; want %q", got, "prefix"+g.wire)
			}
		})
	}
}

func TestNextGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			want := decoded{Magic: g.magic, Type: g.typ, Args: g.args}
			for _, method := range []string{"Next", "NextHeader"} {
				r := wire.NewReader(strings.NewReader(g.wire))
				var p wire.Packet
				var err error
				if method == "Next" {
					p, err = r.Next()
				} else {
					p, err = r.NextHeader()
				}
				if err != nil {
					t.Fatalf("%s: %v", method, err)
				}
				got := decode(p)
				if method == "NextHeader" && g.typ.HasData() {
					data, err := io.ReadAll(r.Data())
					if err != nil {
						t.Fatalf("reading Data: %v", err)
					}
					got.Args = append(got.Args, string(data))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: packet mismatch (-want +got):\n%s", method, diff)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Errorf("%s: after the packet got %v; want io.EOF", method, err)
				}
				if r.Offset() != int64(len(g.wire)) {
					t.Errorf("%s: Offset %d; want %d", method, r.Offset(), len(g.wire))
				}
			}
		})
	}
}

// TestNextDecodeOnly holds packets we accept but never send as they are.
func TestNextDecodeOnly(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want decoded
	}{
		{
			// gearmand's WORK_FAIL for a client without the exceptions option.
			name: "WORK_FAIL with gearmand's trailing NUL",
			wire: "\x00RES\x00\x00\x00\x0e\x00\x00\x00\x09H:box:12\x00",
			want: decoded{wire.Res, wire.WorkFail, []string{"H:box:12"}},
		},
		{
			name: "WORK_FAIL with two NULs keeps them",
			wire: "\x00RES\x00\x00\x00\x0e\x00\x00\x00\x04a\x00b\x00",
			want: decoded{wire.Res, wire.WorkFail, []string{"a\x00b\x00"}},
		},
		{
			name: "WORK_FAIL empty",
			wire: "\x00RES\x00\x00\x00\x0e\x00\x00\x00\x00",
			want: decoded{wire.Res, wire.WorkFail, []string{""}},
		},
		{
			name: "last argument of a non-data type runs to the end",
			wire: "\x00RES\x00\x00\x00\x13\x00\x00\x00\x08CODE\x00a\x00b",
			want: decoded{wire.Res, wire.Error, []string{"CODE", "a\x00b"}},
		},
		{
			name: "a response type with request magic",
			wire: "\x00REQ\x00\x00\x00\x08\x00\x00\x00\x01h",
			want: decoded{wire.Req, wire.JobCreated, []string{"h"}},
		},
		{
			name: "every byte of the length field",
			wire: "\x00REQ\x00\x00\x00\x10\x00\x01\x01\x01" + strings.Repeat("e", 0x010101),
			want: decoded{wire.Req, wire.EchoReq, []string{strings.Repeat("e", 0x010101)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := wire.NewReader(strings.NewReader(tt.wire)).Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if diff := cmp.Diff(tt.want, decode(p)); diff != "" {
				t.Errorf("packet mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendPacketErrors(t *testing.T) {
	tests := []struct {
		name  string
		magic wire.Magic
		typ   wire.Type
		args  []string
		want  error
	}{
		{"too few args", wire.Req, wire.SubmitJob, []string{"f", "u"}, wire.ErrArgCount},
		{"too many args", wire.Req, wire.CanDo, []string{"f", "g"}, wire.ErrArgCount},
		{"args on a zero-arg type", wire.Req, wire.GrabJob, []string{""}, wire.ErrArgCount},
		{"no args on a data type", wire.Req, wire.EchoReq, nil, wire.ErrArgCount},
		{"NUL in the first arg", wire.Req, wire.SubmitJob, []string{"f\x00", "u", "d"}, wire.ErrArgCount},
		{"NUL in a middle arg", wire.Req, wire.SubmitJob, []string{"f", "\x00u", "d"}, wire.ErrArgCount},
		{"NUL in a leading arg of a non-data type", wire.Res, wire.StatusRes, []string{"h", "1", "0\x00", "0", "0"}, wire.ErrArgCount},
		{"type 0", wire.Req, 0, nil, wire.ErrUnknownType},
		{"type 5", wire.Req, 5, nil, wire.ErrUnknownType},
		{"type 43", wire.Req, 43, nil, wire.ErrUnknownType},
		{"magic Text", wire.Text, wire.Noop, nil, wire.ErrBadMagic},
		{"magic 0", 0, wire.Noop, nil, wire.ErrBadMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, 3, 64)
			got, err := wire.AppendPacket(dst, tt.magic, tt.typ, byteArgs(tt.args)...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v; want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "gearman/wire: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if len(got) != 3 {
				t.Errorf("got %q; want dst unchanged", got)
			}
		})
	}
}

func TestAppendHeader(t *testing.T) {
	got := wire.AppendHeader([]byte("x"), wire.Res, wire.WorkData, math.MaxUint32)
	want := "x\x00RES\x00\x00\x00\x1c\xff\xff\xff\xff"
	if string(got) != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

// TestTypeTable checks every type's name, direction, argument count and data
// flag against PROTOCOL.md §2 (copied here by hand).
func TestTypeTable(t *testing.T) {
	const (
		S = wire.ToServer
		C = wire.ToClient
		B = wire.Both
	)
	tests := []struct {
		typ   wire.Type
		name  string
		dir   wire.Direction
		nargs int
		data  bool
	}{
		{0, "UNKNOWN_TYPE_0", 0, 0, false},
		{1, "CAN_DO", S, 1, false},
		{2, "CANT_DO", S, 1, false},
		{3, "RESET_ABILITIES", S, 0, false},
		{4, "PRE_SLEEP", S, 0, false},
		{5, "UNKNOWN_TYPE_5", 0, 0, false},
		{6, "NOOP", C, 0, false},
		{7, "SUBMIT_JOB", S, 3, true},
		{8, "JOB_CREATED", C, 1, false},
		{9, "GRAB_JOB", S, 0, false},
		{10, "NO_JOB", C, 0, false},
		{11, "JOB_ASSIGN", C, 3, true},
		{12, "WORK_STATUS", B, 3, false},
		{13, "WORK_COMPLETE", B, 2, true},
		{14, "WORK_FAIL", B, 1, false},
		{15, "GET_STATUS", S, 1, false},
		{16, "ECHO_REQ", S, 1, true},
		{17, "ECHO_RES", C, 1, true},
		{18, "SUBMIT_JOB_BG", S, 3, true},
		{19, "ERROR", C, 2, false},
		{20, "STATUS_RES", C, 5, false},
		{21, "SUBMIT_JOB_HIGH", S, 3, true},
		{22, "SET_CLIENT_ID", S, 1, false},
		{23, "CAN_DO_TIMEOUT", S, 2, false},
		{24, "ALL_YOURS", S, 0, false},
		{25, "WORK_EXCEPTION", B, 2, true},
		{26, "OPTION_REQ", S, 1, false},
		{27, "OPTION_RES", C, 1, false},
		{28, "WORK_DATA", B, 2, true},
		{29, "WORK_WARNING", B, 2, true},
		{30, "GRAB_JOB_UNIQ", S, 0, false},
		{31, "JOB_ASSIGN_UNIQ", C, 4, true},
		{32, "SUBMIT_JOB_HIGH_BG", S, 3, true},
		{33, "SUBMIT_JOB_LOW", S, 3, true},
		{34, "SUBMIT_JOB_LOW_BG", S, 3, true},
		{35, "SUBMIT_JOB_SCHED", S, 8, true},
		{36, "SUBMIT_JOB_EPOCH", S, 4, true},
		{37, "SUBMIT_REDUCE_JOB", S, 5, true},
		{38, "SUBMIT_REDUCE_JOB_BACKGROUND", S, 5, true},
		{39, "GRAB_JOB_ALL", S, 0, false},
		{40, "JOB_ASSIGN_ALL", C, 5, true},
		{41, "GET_STATUS_UNIQUE", S, 1, false},
		{42, "STATUS_RES_UNIQUE", C, 6, false},
		{43, "UNKNOWN_TYPE_43", 0, 0, false},
		{127, "UNKNOWN_TYPE_127", 0, 0, false},
		{128, "SUBMIT_STREAM", S, 4, true},
		{129, "STREAM_DATA", B, 2, true},
		{130, "STREAM_END", B, 1, false},
		{131, "STREAM_ABORT", B, 1, false},
		{132, "JOB_ASSIGN_STREAM", C, 3, true},
		{133, "PAYLOAD_WINDOW", B, 2, false},
		{134, "RESULT_WINDOW", B, 2, false},
		{135, "UNKNOWN_TYPE_135", 0, 0, false},
		{math.MaxUint32, "UNKNOWN_TYPE_4294967295", 0, 0, false},
	}
	if int(wire.MaxType) != 42 {
		t.Errorf("MaxType is %d; want 42", wire.MaxType)
	}
	maxArgs := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.typ.String(); got != tt.name {
				t.Errorf("String() = %q; want %q", got, tt.name)
			}
			if got := tt.typ.Valid(); got != (tt.dir != 0) {
				t.Errorf("Valid() = %v; want %v", got, tt.dir != 0)
			}
			if got := tt.typ.Direction(); got != tt.dir {
				t.Errorf("Direction() = %v; want %v", got, tt.dir)
			}
			if got := tt.typ.NArgs(); got != tt.nargs {
				t.Errorf("NArgs() = %d; want %d", got, tt.nargs)
			}
			if got := tt.typ.HasData(); got != tt.data {
				t.Errorf("HasData() = %v; want %v", got, tt.data)
			}
		})
		maxArgs = max(maxArgs, tt.nargs)
	}
	if maxArgs != wire.MaxArgs {
		t.Errorf("MaxArgs is %d; the table's largest count is %d", wire.MaxArgs, maxArgs)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{wire.ToServer.String(), "to server"},
		{wire.ToClient.String(), "to client"},
		{wire.Both.String(), "both ways"},
		{wire.Direction(0).String(), "Direction(0)"},
		{wire.Req.String(), "REQ"},
		{wire.Res.String(), "RES"},
		{wire.Text.String(), "TEXT"},
		{wire.Magic(0).String(), "Magic(0)"},
		{wire.Packet{Magic: wire.Text, Args: [][]byte{[]byte("status")}}.String(), `TEXT "status"`},
		{wire.Packet{Magic: wire.Req, Type: wire.SubmitJob, Args: byteArgs([]string{"f", "", "a\x00b"})}.String(),
			`REQ SUBMIT_JOB "f" "" "a\x00b"`},
		{wire.Packet{Magic: wire.Res, Type: wire.WorkData, Args: [][]byte{[]byte("h"), bytes.Repeat([]byte("x"), 100)}}.String(),
			`RES WORK_DATA "h" "` + strings.Repeat("x", 64) + `"...(100 bytes)`},
		{(&wire.ProtocolError{Offset: 12, Type: wire.SubmitJob, Err: wire.ErrArgCount, Detail: "takes 3"}).Error(),
			"gearman/wire: wrong argument count in SUBMIT_JOB at byte 12: takes 3"},
		{(&wire.ProtocolError{Offset: 0, Err: wire.ErrBadMagic}).Error(),
			"gearman/wire: bad magic at byte 0"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}

func TestPacketArg(t *testing.T) {
	p := wire.Packet{Magic: wire.Req, Type: wire.CanDoTimeout, Args: byteArgs([]string{"f", "10"})}
	for i, want := range []string{"", "f", "10", ""} {
		if got := p.Arg(i - 1); string(got) != want {
			t.Errorf("Arg(%d) = %q; want %q", i-1, got, want)
		}
	}
	if p.Arg(2) != nil || p.Arg(-1) != nil {
		t.Errorf("Arg out of range is not nil")
	}
}
