package jobserver

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// The admin commands of failed jobs, which gearmand does not have:
//
//	retries FUNCTION                       OK RETRIES BACKOFF MAX keep|drop own|server
//	retries FUNCTION N [BACKOFF [MAX]] [keep|drop]   OK  (keep unless drop)
//	retries FUNCTION off                   OK  (failed jobs of FUNCTION are gone)
//	retries FUNCTION default               OK  (back to the server's policy)
//	show dead [FUNCTION]                   handle\tfunction\tunique\tattempts\tfirst\tlast\terror lines, then "."
//	dead retry HANDLE|all|function FN      OK N  (queued again)
//	dead purge HANDLE|all|function FN      OK N  (forgotten)
//	cluster status                         FUNCTION\tQUEUED\tHELD\tRUNNING\tWAITING\tDEAD lines, then "."
//	                                       (the shared queue's; ERR NOT_A_CLUSTER without one)
//
// BACKOFF and MAX are Go durations ("30s", "5m"). Times are RFC 3339 in
// UTC; a unique id's and an error's control characters show as spaces.

// adminDeadCommand answers the commands above; ok false for any other
// line. The caller must not hold s.mu: with a shared store they ask the
// database.
func (s *Server) adminDeadCommand(words []string) (b []byte, ok bool) {
	cmd := strings.ToLower(words[0])
	switch {
	case cmd == "retries" && len(words) >= 2:
		return s.adminRetries(words[1], words[2:]), true
	case cmd == "retries":
		return invalidArgs(words[0]), true
	case cmd == "show" && len(words) >= 2 && strings.EqualFold(words[1], "dead"):
		fn := ""
		if len(words) >= 3 {
			fn = words[2]
		}
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		list, _, err := s.DeadLetters(ctx, fn, 0)
		if err != nil {
			return queueErr(err), true
		}
		for _, d := range list {
			b = wire.AppendDeadLetter(b, wire.DeadLetterInfo{
				Handle: d.Handle, Function: d.Func, Unique: d.Unique, Attempts: d.Attempts,
				First: d.First, Last: d.Last, Error: d.Error,
			})
		}
		return append(b, ".\n"...), true
	case cmd == "cluster" && len(words) >= 2 && strings.EqualFold(words[1], "status"):
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		st, err := s.ClusterStatus(ctx)
		switch {
		case errors.Is(err, ErrNotCluster):
			return []byte("ERR NOT_A_CLUSTER The+server+has+no+shared+store\r\n"), true
		case err != nil:
			return queueErr(err), true
		}
		for _, f := range st.Funcs {
			b = wire.AppendClusterFunction(b, wire.ClusterFunction{
				Function: f.Func, Queued: f.Queued, Held: f.Held, Running: f.Running, Waiting: f.Waiting, Dead: f.Dead,
			})
		}
		return append(b, ".\n"...), true
	case cmd == "dead":
		if len(words) < 3 || !(strings.EqualFold(words[1], "retry") || strings.EqualFold(words[1], "purge")) {
			return invalidArgs(words[0]), true
		}
		var sel DeadSelector
		switch {
		case strings.EqualFold(words[2], "all"):
		case strings.EqualFold(words[2], "function") && len(words) >= 4:
			sel.Func = words[3]
		case strings.EqualFold(words[2], "function"):
			return invalidArgs(words[0]), true
		default:
			sel.Handle = words[2]
		}
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		do := s.RetryDead
		if strings.EqualFold(words[1], "purge") {
			do = s.PurgeDead
		}
		n, err := do(ctx, sel)
		if err != nil {
			return queueErr(err), true
		}
		return append(strconv.AppendInt([]byte("OK "), int64(n), 10), '\n'), true
	}
	return nil, false
}

// adminRetries shows or sets a function's retry policy.
func (s *Server) adminRetries(fn string, args []string) []byte {
	if len(args) == 0 {
		p, own := s.RetryPolicyOf(fn)
		b := append([]byte("OK "), strconv.Itoa(p.Retries)...)
		b = append(append(append(b, ' '), p.Backoff.String()...), ' ')
		b = append(append(b, p.MaxBackoff.String()...), ' ')
		b = append(b, map[bool]string{true: "keep", false: "drop"}[p.Keep]...)
		b = append(append(b, ' '), map[bool]string{true: "own", false: "server"}[own]...)
		return append(b, '\n')
	}
	if len(fn) > s.cfg.MaxFunctionName || wire.ValidFunctionName([]byte(fn)) != nil {
		return invalidArgs("retries")
	}
	switch strings.ToLower(args[0]) {
	case "default":
		s.SetRetryPolicy(fn, nil)
		return []byte("OK\r\n")
	case "off":
		s.SetRetryPolicy(fn, &RetryPolicy{})
		return []byte("OK\r\n")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return invalidArgs("retries")
	}
	p := RetryPolicy{Retries: n, Keep: true}
	var durs []time.Duration
	for _, a := range args[1:] {
		switch strings.ToLower(a) {
		case "keep":
			p.Keep = true
			continue
		case "drop":
			p.Keep = false
			continue
		}
		d, err := time.ParseDuration(a)
		if err != nil || d <= 0 || len(durs) == 2 {
			return invalidArgs("retries")
		}
		durs = append(durs, d)
	}
	if len(durs) > 0 {
		p.Backoff = durs[0]
	}
	if len(durs) > 1 {
		p.MaxBackoff = durs[1]
	}
	s.SetRetryPolicy(fn, &p)
	return []byte("OK\r\n")
}

func invalidArgs(cmd string) []byte {
	return []byte("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+" + cmd + "\r\n")
}

func queueErr(err error) []byte {
	return []byte("ERR QUEUE_ERROR " + strings.ReplaceAll(err.Error(), " ", "+") + "\r\n")
}
