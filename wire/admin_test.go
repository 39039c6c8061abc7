package wire_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestAppendCommand(t *testing.T) {
	tests := []struct {
		prefix string
		words  []string
		want   string
	}{
		{"", []string{"status"}, "status\r\n"},
		{"", []string{"cancel", "job", "H:box:1"}, "cancel job H:box:1\r\n"},
		{"", []string{"maxqueue", "rev", "1", "2", "3"}, "maxqueue rev 1 2 3\r\n"},
		{"version\r\n", []string{"show", "jobs"}, "version\r\nshow jobs\r\n"},
		{"", nil, "\r\n"},
	}
	for _, tt := range tests {
		if got := string(wire.AppendCommand([]byte(tt.prefix), tt.words...)); got != tt.want {
			t.Errorf("AppendCommand(%q, %q) = %q; want %q", tt.prefix, tt.words, got, tt.want)
		}
	}
}

func TestIsEnd(t *testing.T) {
	for line, want := range map[string]bool{".": true, "": false, "..": false, " .": false, ". ": false, ".\r": false, "x": false} {
		if got := wire.IsEnd([]byte(line)); got != want {
			t.Errorf("IsEnd(%q) = %v; want %v", line, got, want)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		line  string
		value string
		err   *wire.ReplyError // nil when OK is expected
		bad   bool             // ErrBadReply expected
	}{
		{line: "OK"},
		{line: "OK 1.1.20+ds", value: "1.1.20+ds"},
		{line: "OK 29912", value: "29912"},
		{line: "OK WARNING", value: "WARNING"},
		{line: "OK ", value: ""},
		{line: "ERR UNKNOWN_COMMAND Unknown+server+commandbogus",
			err: &wire.ReplyError{Code: "UNKNOWN_COMMAND", Message: "Unknown server commandbogus"}},
		{line: "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue",
			err: &wire.ReplyError{Code: "INVALID_ARGUMENTS", Message: "An incomplete set of arguments was sent to this command maxqueue"}},
		{line: "ERR UNKNOWN_JOB", err: &wire.ReplyError{Code: "UNKNOWN_JOB"}},
		{line: "ERR UNKNOWN_SHOW_ARGUMENTS", err: &wire.ReplyError{Code: "UNKNOWN_SHOW_ARGUMENTS"}},
		// gearmand's free-text errors come out as a code and a message.
		{line: "ERR function not found", err: &wire.ReplyError{Code: "function", Message: "not found"}},
		{line: "", bad: true},
		{line: "ok", bad: true},
		{line: "OKAY", bad: true},
		{line: " OK", bad: true},
		{line: "ERR", bad: true},
		{line: "ERR ", bad: true},
		{line: "ERR  UNKNOWN_JOB", bad: true},
		{line: "ERRX", bad: true},
		{line: "status", bad: true},
		{line: "rev\t1\t0\t1", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			value, err := wire.ParseReply([]byte(tt.line))
			switch {
			case tt.bad:
				if !errors.Is(err, wire.ErrBadReply) {
					t.Errorf("got %q, %v; want ErrBadReply", value, err)
				}
			case tt.err != nil:
				var re *wire.ReplyError
				if !errors.As(err, &re) {
					t.Fatalf("got %q, %v; want a *ReplyError", value, err)
				}
				if diff := cmp.Diff(tt.err, re); diff != "" {
					t.Errorf("ReplyError mismatch (-want +got):\n%s", diff)
				}
				if errors.Is(err, wire.ErrBadReply) {
					t.Errorf("a well-formed ERR wraps ErrBadReply")
				}
			default:
				if err != nil || value != tt.value {
					t.Errorf("got %q, %v; want %q, nil", value, err, tt.value)
				}
			}
		})
	}
}

func TestReplyErrorString(t *testing.T) {
	for _, tt := range []struct {
		err  *wire.ReplyError
		want string
	}{
		{&wire.ReplyError{Code: "UNKNOWN_JOB"}, "gearman: server answered ERR UNKNOWN_JOB"},
		{&wire.ReplyError{Code: "UNKNOWN_COMMAND", Message: "Unknown server commandx"}, "gearman: server answered ERR UNKNOWN_COMMAND: Unknown server commandx"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q; want %q", got, tt.want)
		}
	}
}

// badCounts are malformed forms shared by the tab-separated answers, given
// the number of fields; each has a label for the subtest.
func badTabLines(n int) map[string]string {
	ok := make([]string, n)
	ok[0] = "fn"
	for i := 1; i < n; i++ {
		ok[i] = "1"
	}
	with := func(i int, s string) string {
		f := slices.Clone(ok)
		f[i] = s
		return strings.Join(f, "\t")
	}
	return map[string]string{
		"empty":           "",
		"one field":       "fn",
		"one field short": strings.Join(ok[:n-1], "\t"),
		"one field more":  strings.Join(append(slices.Clone(ok), "1"), "\t"),
		"spaces":          strings.Join(ok, " "),
		"word":            with(1, "x"),
		"empty number":    with(n-1, ""),
		"negative":        with(1, "-1"),
		"plus sign":       with(n-1, "+1"),
		"space in number": with(1, " 1"),
		"trailing space":  with(n-1, "1 "),
		"overflow":        with(1, "99999999999999999999999"),
		"trailing tab":    strings.Join(ok, "\t") + "\t",
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		line string
		want wire.FunctionStatus
	}{
		{"rev\t2\t1\t3", wire.FunctionStatus{Function: "rev", Queued: 2, Running: 1, Workers: 3}},
		{"tmo\t0\t0\t1", wire.FunctionStatus{Function: "tmo", Queued: 0, Running: 0, Workers: 1}},
		{"a fn\t10\t0\t0", wire.FunctionStatus{Function: "a fn", Queued: 10}},
		{"\t0\t0\t0", wire.FunctionStatus{}},
	}
	for _, tt := range tests {
		got, err := wire.ParseStatus([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseStatus(%q): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseStatus(%q) mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
	for name, line := range badTabLines(4) {
		t.Run(name, func(t *testing.T) {
			got, err := wire.ParseStatus([]byte(line))
			if !errors.Is(err, wire.ErrBadReply) {
				t.Errorf("ParseStatus(%q) = %+v, %v; want ErrBadReply", line, got, err)
			}
		})
	}
}

func TestParsePriorityStatus(t *testing.T) {
	got, err := wire.ParsePriorityStatus([]byte("rev\t1\t2\t3\t4"))
	want := wire.PriorityStatus{Function: "rev", High: 1, Normal: 2, Low: 3, Workers: 4}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	for name, line := range badTabLines(5) {
		t.Run(name, func(t *testing.T) {
			got, err := wire.ParsePriorityStatus([]byte(line))
			if !errors.Is(err, wire.ErrBadReply) {
				t.Errorf("ParsePriorityStatus(%q) = %+v, %v; want ErrBadReply", line, got, err)
			}
		})
	}
}

func TestParseShowJobs(t *testing.T) {
	tests := []struct {
		line string
		want wire.JobInfo
	}{
		{"H:vm:1\t0\t0\t1", wire.JobInfo{Handle: "H:vm:1", Persisted: true}},
		{"H:vm:2\t3\t1\t0", wire.JobInfo{Handle: "H:vm:2", Retries: 3, Ignore: true}},
	}
	for _, tt := range tests {
		got, err := wire.ParseShowJobs([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseShowJobs(%q): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseShowJobs(%q) mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
	for name, line := range badTabLines(4) {
		t.Run(name, func(t *testing.T) {
			got, err := wire.ParseShowJobs([]byte(line))
			if !errors.Is(err, wire.ErrBadReply) {
				t.Errorf("ParseShowJobs(%q) = %+v, %v; want ErrBadReply", line, got, err)
			}
		})
	}
}

func TestParseWorkers(t *testing.T) {
	tests := []struct {
		line string
		want wire.WorkerInfo
	}{
		// gearmand's own samples (notes/gearmand.md §4.2).
		{"39 127.0.0.1 worker-A : tmo rev rev", wire.WorkerInfo{FD: 39, Addr: "127.0.0.1", ClientID: "worker-A", Functions: []string{"tmo", "rev", "rev"}}},
		{"40 127.0.0.1 - :", wire.WorkerInfo{FD: 40, Addr: "127.0.0.1", ClientID: "-"}},
		{"41 127.0.0.1 - : rev", wire.WorkerInfo{FD: 41, Addr: "127.0.0.1", ClientID: "-", Functions: []string{"rev"}}},
		// Client ids may hold spaces, and even " :".
		{"42 127.0.0.1 my worker : rev", wire.WorkerInfo{FD: 42, Addr: "127.0.0.1", ClientID: "my worker", Functions: []string{"rev"}}},
		{"43 10.0.0.1 a :b : f:g", wire.WorkerInfo{FD: 43, Addr: "10.0.0.1", ClientID: "a :b", Functions: []string{"f:g"}}},
		{"44 ::1 - : x", wire.WorkerInfo{FD: 44, Addr: "::1", ClientID: "-", Functions: []string{"x"}}},
		{"45 127.0.0.1  :", wire.WorkerInfo{FD: 45, Addr: "127.0.0.1", ClientID: ""}},
		// gearmand's line for a connection it has closed but not yet freed
		// (seen in CI: an admin connection that had just ended).
		{"-1 127.0.0.1 - :", wire.WorkerInfo{FD: -1, Addr: "127.0.0.1", ClientID: "-"}},
	}
	for _, tt := range tests {
		got, err := wire.ParseWorkers([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseWorkers(%q): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseWorkers(%q) mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
	for _, line := range []string{
		"",
		".",
		"39",
		"39 127.0.0.1",
		"39 127.0.0.1 worker-A",
		"39 127.0.0.1 worker-A tmo rev",
		"39 127.0.0.1 - :rev",
		"x 127.0.0.1 - :",
		"-2 127.0.0.1 - :",
		"-01 127.0.0.1 - :",
		"+1 127.0.0.1 - :",
		" 39 127.0.0.1 - :",
		"39\t127.0.0.1\t-\t:",
	} {
		got, err := wire.ParseWorkers([]byte(line))
		if !errors.Is(err, wire.ErrBadReply) {
			t.Errorf("ParseWorkers(%q) = %+v, %v; want ErrBadReply", line, got, err)
		}
	}
}

// TestAdminGearmand parses every line the real gearmand answers to the admin
// commands, read by Reader.Next from the connection.
func TestAdminGearmand(t *testing.T) {
	addr := peertest.Gearmand(t)
	deadline := time.Now().Add(10 * time.Second)
	dial := func() (net.Conn, *wire.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(deadline)
		return c, wire.NewReader(c)
	}
	send := func(c net.Conn, s string) {
		t.Helper()
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	next := func(r *wire.Reader) wire.Packet {
		t.Helper()
		p, err := r.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		return p
	}

	// A worker: CAN_DO rev twice, CAN_DO tmo, a client id with a space, and
	// an ECHO_REQ whose answer says the server has handled them all.
	worker, wr := dial()
	send(worker, "\x00REQ\x00\x00\x00\x01\x00\x00\x00\x03rev"+
		"\x00REQ\x00\x00\x00\x01\x00\x00\x00\x03rev"+
		"\x00REQ\x00\x00\x00\x01\x00\x00\x00\x03tmo"+
		"\x00REQ\x00\x00\x00\x16\x00\x00\x00\x09my worker"+
		"\x00REQ\x00\x00\x00\x10\x00\x00\x00\x04sync")
	if p := next(wr); p.Type != wire.EchoRes || string(p.Arg(0)) != "sync" {
		t.Fatalf("got %v; want ECHO_RES sync", p)
	}

	// A client queues two background jobs of rev, one HIGH, one NORMAL.
	client, cr := dial()
	send(client, "\x00REQ\x00\x00\x00\x20\x00\x00\x00\x0brev\x00u1\x00data"+
		"\x00REQ\x00\x00\x00\x12\x00\x00\x00\x0brev\x00u2\x00data")
	handles := map[string]bool{}
	for range 2 {
		p := next(cr)
		if p.Type != wire.JobCreated {
			t.Fatalf("got %v; want JOB_CREATED", p)
		}
		handles[string(p.Arg(0))] = true
	}

	admin, ar := dial()
	send(admin, "status\r\nworkers\nprioritystatus\r\nshow jobs\r\nshow unique jobs\n"+
		"version\r\ngetpid\nbogus\r\ncancel job nosuch\r\nmaxqueue\r\nshow nothing\r\n")
	list := func(cmd string) []string {
		t.Helper()
		var lines []string
		for {
			p := next(ar)
			if p.Magic != wire.Text {
				t.Fatalf("%s: got %v; want a text line", cmd, p)
			}
			if wire.IsEnd(p.Arg(0)) {
				return lines
			}
			lines = append(lines, string(p.Arg(0)))
		}
	}
	reply := func() (string, error) {
		t.Helper()
		p := next(ar)
		if p.Magic != wire.Text {
			t.Fatalf("got %v; want a text line", p)
		}
		return wire.ParseReply(p.Arg(0))
	}

	statuses := map[string]wire.FunctionStatus{}
	for _, line := range list("status") {
		s, err := wire.ParseStatus([]byte(line))
		if err != nil {
			t.Errorf("status: %v", err)
		}
		statuses[s.Function] = s
	}
	if diff := cmp.Diff(map[string]wire.FunctionStatus{
		"rev": {Function: "rev", Queued: 2, Running: 0, Workers: 2},
		"tmo": {Function: "tmo", Queued: 0, Running: 0, Workers: 1},
	}, statuses); diff != "" {
		t.Errorf("status mismatch (-want +got):\n%s", diff)
	}

	var sawWorker, sawIdle bool
	lines := list("workers")
	for _, line := range lines {
		w, err := wire.ParseWorkers([]byte(line))
		if err != nil {
			t.Errorf("workers: %v", err)
			continue
		}
		if w.Addr != "127.0.0.1" || w.FD <= 0 {
			t.Errorf("workers line %q: got address %q, fd %d", line, w.Addr, w.FD)
		}
		switch w.ClientID {
		case "my worker":
			sawWorker = true
			slices.Sort(w.Functions)
			if want := []string{"rev", "rev", "tmo"}; !slices.Equal(w.Functions, want) {
				t.Errorf("workers line %q: got functions %q; want %q", line, w.Functions, want)
			}
		case "-":
			if len(w.Functions) == 0 {
				sawIdle = true
			}
		}
	}
	if !sawWorker || !sawIdle {
		t.Errorf("workers answer %q: saw the worker %v, a connection without functions %v; want both", lines, sawWorker, sawIdle)
	}

	prio := map[string]wire.PriorityStatus{}
	for _, line := range list("prioritystatus") {
		s, err := wire.ParsePriorityStatus([]byte(line))
		if err != nil {
			t.Errorf("prioritystatus: %v", err)
		}
		prio[s.Function] = s
	}
	if diff := cmp.Diff(map[string]wire.PriorityStatus{
		"rev": {Function: "rev", High: 1, Normal: 1, Low: 0, Workers: 2},
		"tmo": {Function: "tmo", Workers: 1},
	}, prio); diff != "" {
		t.Errorf("prioritystatus mismatch (-want +got):\n%s", diff)
	}

	jobs := map[string]bool{}
	for _, line := range list("show jobs") {
		j, err := wire.ParseShowJobs([]byte(line))
		if err != nil {
			t.Errorf("show jobs: %v", err)
		}
		if j.Retries != 0 || j.Ignore {
			t.Errorf("show jobs line %q: got %+v; want no retries, not ignored", line, j)
		}
		jobs[j.Handle] = true
	}
	if diff := cmp.Diff(handles, jobs); diff != "" {
		t.Errorf("show jobs handles mismatch (-want +got):\n%s", diff)
	}

	uniques := list("show unique jobs")
	slices.Sort(uniques)
	if want := []string{"u1", "u2"}; !slices.Equal(uniques, want) {
		t.Errorf("show unique jobs: got %q; want %q", uniques, want)
	}

	if v, err := reply(); err != nil || !strings.HasPrefix(v, "1.") {
		t.Errorf("version: got %q, %v; want a version", v, err)
	}
	if v, err := reply(); err != nil || v == "" || strings.Trim(v, "0123456789") != "" {
		t.Errorf("getpid: got %q, %v; want a number", v, err)
	}
	for _, want := range []*wire.ReplyError{
		{Code: "UNKNOWN_COMMAND", Message: "Unknown server commandbogus"},
		{Code: "UNKNOWN_JOB"},
		{Code: "INVALID_ARGUMENTS", Message: "An incomplete set of arguments was sent to this command maxqueue"},
		{Code: "UNKNOWN_SHOW_ARGUMENTS"},
	} {
		v, err := reply()
		var re *wire.ReplyError
		if !errors.As(err, &re) {
			t.Errorf("got %q, %v; want %v", v, err, want)
			continue
		}
		if diff := cmp.Diff(want, re); diff != "" {
			t.Errorf("ERR reply mismatch (-want +got):\n%s", diff)
		}
	}
	if n := ar.Buffered(); n != 0 {
		t.Errorf("%d bytes left unread after the answers", n)
	}
}
