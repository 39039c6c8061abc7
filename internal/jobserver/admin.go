package jobserver

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The admin text protocol, byte for byte as gearmand 1.1 answers it: lists
// end with ".\n", OK and ERR with "\r\n", "OK value" with "\n".

// admin handles one admin text line; it returns false when the connection
// must close.
func (s *Server) admin(c *conn, line []byte) bool {
	words := splitWords(line)
	cmd := strings.ToLower(words[0])
	if s.shared != nil && cmd == "cancel" && len(words) == 3 && strings.EqualFold(words[1], "job") && s.remoteCancel(c, words[2]) {
		return true
	}
	if b, ok := s.adminDeadCommand(words); ok {
		c.sendRaw(b)
		return true
	}
	var b []byte
	s.mu.Lock()
	if c.gone {
		s.mu.Unlock()
		return false
	}
	switch {
	case cmd == "workers":
		b = s.adminWorkers(b)
	case cmd == "status":
		b = s.adminStatus(b)
	case cmd == "prioritystatus":
		b = s.adminPriorityStatus(b)
	case cmd == "version":
		b = append(append(append(b, "OK "...), s.cfg.Version...), '\n')
	case cmd == "verbose":
		b = append(append(append(b, "OK "...), s.cfg.Verbose...), '\n')
	case cmd == "getpid":
		b = append(strconv.AppendInt(append(b, "OK "...), int64(os.Getpid()), 10), '\n')
	case cmd == "maxqueue" && len(words) >= 2:
		s.adminMaxQueue(words[1], words[2:])
		b = append(b, "OK\r\n"...)
	case cmd == "show" && len(words) >= 2:
		switch {
		case strings.EqualFold(words[1], "jobs"):
			b = s.adminShowJobs(b)
		case strings.EqualFold(words[1], "unique") && len(words) >= 3 && strings.EqualFold(words[2], "jobs"):
			b = s.adminShowUnique(b)
		default:
			b = append(b, "ERR UNKNOWN_SHOW_ARGUMENTS\r\n"...)
		}
	case cmd == "cancel" && len(words) >= 2:
		if len(words) == 3 && strings.EqualFold(words[1], "job") {
			b = s.adminCancel(b, words[2])
		} else {
			b = append(b, "ERR UNKNOWN_ERROR\r\n"...)
		}
	case (cmd == "create" || cmd == "drop") && len(words) >= 3 && strings.EqualFold(words[1], "function"):
		if cmd == "create" {
			b = s.adminCreate(b, words[2])
		} else {
			b = s.adminDrop(b, words[2])
		}
	case cmd == "maxqueue" || cmd == "create" || cmd == "drop":
		b = append(append(b, "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+"...), words[0]...)
		b = append(b, "\r\n"...)
	case cmd == "shutdown" && s.cfg.EnableShutdownCommand:
		graceful := len(words) >= 2 && strings.EqualFold(words[1], "graceful")
		s.mu.Unlock()
		c.sendRaw([]byte("OK\r\n"))
		c.endOutput()
		select {
		case <-c.writerEnd:
		case <-time.After(time.Second):
		}
		s.logInfo("shutdown requested by an admin command", "graceful", graceful, "conn", c.id)
		go func() { // not in s.wg: it ends when Close, which waits for s.wg, returns
			if graceful {
				s.Shutdown(context.Background())
			} else {
				s.Close()
			}
		}()
		return false
	default:
		b = append(append(b, "ERR UNKNOWN_COMMAND Unknown+server+command"...), words[0]...)
		b = append(b, "\r\n"...)
	}
	s.mu.Unlock()
	c.sendRaw(b)
	return true
}

// splitWords splits an admin line on spaces, as gearmand does: runs of
// spaces count as one, and a leading space makes an empty first word.
func splitWords(line []byte) []string {
	words := []string{}
	if len(line) > 0 && line[0] == ' ' {
		words = append(words, "")
	}
	for _, w := range bytes.Split(line, []byte{' '}) {
		if len(w) > 0 {
			words = append(words, string(w))
		}
	}
	if len(words) == 0 {
		words = append(words, "")
	}
	return words
}

// sortedConns returns the connections in the order they came.
func (s *Server) sortedConns() []*conn {
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *conn) int { return a.id - b.id })
	return cs
}

// sortedFuncs returns the functions by name.
func (s *Server) sortedFuncs() []*function {
	fs := make([]*function, 0, len(s.funcs))
	for _, f := range s.funcs {
		fs = append(fs, f)
	}
	slices.SortFunc(fs, func(a, b *function) int { return strings.Compare(a.name, b.name) })
	return fs
}

// adminWorkers lists every connection: "fd ip client-id : f1 f2\n", the
// most recent registration first.
func (s *Server) adminWorkers(b []byte) []byte {
	for _, c := range s.sortedConns() {
		b = strconv.AppendInt(b, int64(c.id), 10)
		b = append(append(append(append(append(b, ' '), c.ip...), ' '), c.clientID...), " :"...)
		for i := len(c.regs) - 1; i >= 0; i-- {
			b = append(append(b, ' '), c.regs[i].fn.name...)
		}
		b = append(b, '\n')
	}
	return append(b, ".\n"...)
}

// adminStatus lists "function\ttotal\trunning\tworkers\n".
func (s *Server) adminStatus(b []byte) []byte {
	for _, f := range s.sortedFuncs() {
		b = append(append(b, f.name...), '\t')
		b = append(strconv.AppendInt(b, int64(f.total), 10), '\t')
		b = append(strconv.AppendInt(b, int64(f.running), 10), '\t')
		b = append(strconv.AppendInt(b, int64(f.workers), 10), '\n')
	}
	return append(b, ".\n"...)
}

// adminPriorityStatus lists "function\thigh\tnormal\tlow\tworkers\n",
// counting jobs not yet running (epoch and scheduled ones as NORMAL).
func (s *Server) adminPriorityStatus(b []byte) []byte {
	for _, f := range s.sortedFuncs() {
		b = append(append(b, f.name...), '\t')
		b = append(strconv.AppendInt(b, int64(f.queue[prioHigh].n), 10), '\t')
		b = append(strconv.AppendInt(b, int64(f.queue[prioNormal].n+f.waiting), 10), '\t')
		b = append(strconv.AppendInt(b, int64(f.queue[prioLow].n), 10), '\t')
		b = append(strconv.AppendInt(b, int64(f.workers), 10), '\n')
	}
	return append(b, ".\n"...)
}

// sortedJobs returns the live jobs in the order they were created.
func (s *Server) sortedJobs() []*job {
	js := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		js = append(js, j)
	}
	slices.SortFunc(js, func(a, b *job) int {
		if a.id < b.id {
			return -1
		}
		return 1
	})
	return js
}

// adminShowJobs lists "handle\tretries\tignore\tpersisted\n"; like gearmand
// a background job shows as persisted.
func (s *Server) adminShowJobs(b []byte) []byte {
	for _, j := range s.sortedJobs() {
		b = append(s.appendHandle(b, j), '\t')
		b = append(strconv.AppendInt(b, int64(j.retries), 10), '\t')
		b = append(b, boolDigit(j.canceled), '\t', boolDigit(j.bg), '\n')
	}
	return append(b, ".\n"...)
}

// adminShowUnique lists the unique id of every job, one a line.
func (s *Server) adminShowUnique(b []byte) []byte {
	for _, j := range s.sortedJobs() {
		b = append(append(b, j.unique...), '\n')
	}
	return append(b, ".\n"...)
}

func boolDigit(v bool) byte {
	if v {
		return '1'
	}
	return '0'
}

// adminMaxQueue sets a function's queue limits (see gearmand's maxqueue):
// no number resets them, one sets all three, two set HIGH and NORMAL, three
// set HIGH, NORMAL and LOW. Zero or less means no limit. An unknown
// function is left alone, as gearmand does.
func (s *Server) adminMaxQueue(name string, nums []string) {
	f := s.funcs[name]
	if f == nil {
		return
	}
	var lim [nPrio]int
	n := func(i int) int {
		v, _ := strconv.Atoi(nums[i])
		return max(v, 0)
	}
	switch {
	case len(nums) == 1:
		lim = [nPrio]int{n(0), n(0), n(0)}
	case len(nums) == 2:
		lim = [nPrio]int{n(0), n(1), 0}
	case len(nums) >= 3:
		lim = [nPrio]int{n(0), n(1), n(2)}
	}
	f.maxQueue = lim
	f.kept = true
}

// adminCancel cancels a job (see Server.cancel).
func (s *Server) adminCancel(b []byte, h string) []byte {
	j := s.lookup([]byte(h))
	if j == nil || j.canceled {
		return append(b, "ERR UNKNOWN_JOB\r\n"...)
	}
	s.cancel(j)
	return append(b, "OK\r\n"...)
}

// adminDrop removes a function with no workers and no running jobs; its
// queued jobs fail for their clients. The name matches case-insensitively,
// as in gearmand.
func (s *Server) adminDrop(b []byte, name string) []byte {
	var f *function
	for _, g := range s.sortedFuncs() {
		if strings.EqualFold(g.name, name) {
			f = g
			break
		}
	}
	if f == nil {
		return append(b, "ERR function not found\r\n"...)
	}
	if f.workers > 0 || f.running > 0 {
		return append(b, "ERR there are still connected workers or executing clients\r\n"...)
	}
	for _, j := range s.sortedJobs() {
		if j.fn == f {
			s.mEnded(j, ResultCancelled)
			s.failClients(j)
			s.free(j)
		}
	}
	delete(s.funcs, f.name)
	return append(b, "OK\r\n"...)
}
