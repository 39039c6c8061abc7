package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// AppendCommand appends an admin command line: the words joined by single
// spaces and ended with "\r\n", as gearadmin sends them (gearmand 1.1's
// "create function" expects the carriage return).
func AppendCommand(dst []byte, words ...string) []byte {
	for i, w := range words {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, w...)
	}
	return append(dst, '\r', '\n')
}

// IsEnd reports whether line is the "." that ends a list answer.
func IsEnd(line []byte) bool { return len(line) == 1 && line[0] == '.' }

// ReplyError is an "ERR CODE message" answer to an admin command.
type ReplyError struct {
	Code    string // such as UNKNOWN_COMMAND or UNKNOWN_JOB
	Message string // with gearmand's '+' for spaces turned back into spaces
}

// Error returns "gearman: server answered ERR CODE: message".
func (e *ReplyError) Error() string {
	if e.Message == "" {
		return "gearman: server answered ERR " + e.Code
	}
	return "gearman: server answered ERR " + e.Code + ": " + e.Message
}

// ParseReply reads a one-line answer: "OK" gives "", "OK value" gives value,
// "ERR CODE message" gives a [*ReplyError]; anything else is an error
// wrapping [ErrBadReply].
func ParseReply(line []byte) (string, error) {
	s := string(line)
	switch {
	case s == "OK":
		return "", nil
	case strings.HasPrefix(s, "OK "):
		return s[3:], nil
	case strings.HasPrefix(s, "ERR "):
		code, msg, _ := strings.Cut(s[4:], " ")
		if code == "" {
			break
		}
		return "", &ReplyError{Code: code, Message: strings.ReplaceAll(msg, "+", " ")}
	}
	return "", fmt.Errorf("%w: %q is neither OK nor ERR", ErrBadReply, s)
}

// FunctionStatus is one line of the "status" answer.
type FunctionStatus struct {
	Function string
	Queued   int // jobs queued or running (gearmand counts both)
	Running  int // jobs a worker holds
	Workers  int // worker registrations for the function
}

// ParseStatus reads one line of the "status" answer:
// FUNCTION\tQUEUED\tRUNNING\tWORKERS.
func ParseStatus(line []byte) (FunctionStatus, error) {
	var f [4]string
	if err := splitTabs(line, f[:], "status"); err != nil {
		return FunctionStatus{}, err
	}
	var s FunctionStatus
	s.Function = f[0]
	err := atois("status", f[1:], &s.Queued, &s.Running, &s.Workers)
	return s, err
}

// PriorityStatus is one line of the "prioritystatus" answer.
type PriorityStatus struct {
	Function          string
	High, Normal, Low int // queued jobs (not running) at each priority
	Workers           int
}

// ParsePriorityStatus reads one line of the "prioritystatus" answer:
// FUNCTION\tHIGH\tNORMAL\tLOW\tWORKERS.
func ParsePriorityStatus(line []byte) (PriorityStatus, error) {
	var f [5]string
	if err := splitTabs(line, f[:], "prioritystatus"); err != nil {
		return PriorityStatus{}, err
	}
	var s PriorityStatus
	s.Function = f[0]
	err := atois("prioritystatus", f[1:], &s.High, &s.Normal, &s.Low, &s.Workers)
	return s, err
}

// JobInfo is one line of the "show jobs" answer.
type JobInfo struct {
	Handle    string
	Retries   int
	Ignore    bool // cancelled or abandoned, waiting to be cleared
	Persisted bool // a background job the server has stored
}

// ParseShowJobs reads one line of the "show jobs" answer:
// HANDLE\tRETRIES\tIGNORE\tPERSISTED.
func ParseShowJobs(line []byte) (JobInfo, error) {
	var f [4]string
	if err := splitTabs(line, f[:], "show jobs"); err != nil {
		return JobInfo{}, err
	}
	var ignore, persisted int
	j := JobInfo{Handle: f[0]}
	if err := atois("show jobs", f[1:], &j.Retries, &ignore, &persisted); err != nil {
		return JobInfo{}, err
	}
	j.Ignore, j.Persisted = ignore != 0, persisted != 0
	return j, nil
}

// WorkerInfo is one line of the "workers" answer: one connection of the
// server, with the functions it registered (none for a client).
type WorkerInfo struct {
	FD        int    // the server's number for the connection; -1 once gearmand has closed its socket but not yet dropped it
	Addr      string // the peer's IP address
	ClientID  string // from SET_CLIENT_ID; "-" when none was set
	Functions []string
}

// ParseWorkers reads one line of the "workers" answer:
// FD IP CLIENT_ID : FUNCTION FUNCTION...
func ParseWorkers(line []byte) (WorkerInfo, error) {
	bad := func(why string) (WorkerInfo, error) {
		return WorkerInfo{}, fmt.Errorf("%w: workers line %q: %s", ErrBadReply, line, why)
	}
	fd, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return bad("no address")
	}
	addr, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return bad("no client id")
	}
	// The client id may hold spaces; the functions may not.
	i := bytes.Index(rest, []byte(" :"))
	for i >= 0 && i+2 < len(rest) && rest[i+2] != ' ' {
		j := bytes.Index(rest[i+2:], []byte(" :"))
		if j < 0 {
			i = -1
			break
		}
		i += 2 + j
	}
	if i < 0 {
		return bad(`no " :" separator`)
	}
	n, ok := atoi(string(fd))
	if string(fd) == "-1" {
		// gearmand lists a connection whose socket it closed, until it
		// frees it, with the fd -1: an admin connection just ended, say.
		n, ok = -1, true
	}
	if !ok {
		return bad("fd is not a number")
	}
	w := WorkerInfo{FD: n, Addr: string(addr), ClientID: string(rest[:i])}
	for _, f := range bytes.Fields(rest[i+2:]) {
		w.Functions = append(w.Functions, string(f))
	}
	return w, nil
}

func splitTabs(line []byte, dst []string, cmd string) error {
	s := string(line)
	for i := range dst {
		if i == len(dst)-1 {
			if strings.IndexByte(s, '\t') >= 0 {
				return fmt.Errorf("%w: %s line %q has more than %d fields", ErrBadReply, cmd, line, len(dst))
			}
			dst[i] = s
			return nil
		}
		f, rest, ok := strings.Cut(s, "\t")
		if !ok {
			return fmt.Errorf("%w: %s line %q has %d fields, want %d", ErrBadReply, cmd, line, i+1, len(dst))
		}
		dst[i], s = f, rest
	}
	return nil
}

func atois(cmd string, fields []string, dst ...*int) error {
	for i, f := range fields {
		n, ok := atoi(f)
		if !ok {
			return fmt.Errorf("%w: %s field %d is %q, not a number", ErrBadReply, cmd, i+2, f)
		}
		*dst[i] = n
	}
	return nil
}

// atoi parses a count: decimal digits only, no sign (strconv.Atoi takes
// "+1" and "-1", which no server sends).
func atoi(s string) (int, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
