package jobserver

import (
	"fmt"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// This file is the server side of the streaming extension (wire/STREAMING.md):
// payloads that follow SUBMIT_STREAM in chunks, relayed to a worker that
// negotiated the extension as they come (or spooled and assigned whole to
// one that did not), under per-job credit windows in both directions.
//
// Memory. The server grants a client payload credit only as a worker takes
// the payload, so it holds at most one window of a stream job (spooled plus
// credit), however long the job waits. The one exception is a job whose
// function has workers, none of them with the extension: such a worker can
// only take the payload whole, so the server spools it, in chunks, up to
// Config.MaxSpool bytes per job and Config.MaxSpoolTotal bytes beyond the
// first window of each job across the server (the charge of each job is
// st.charge, the sum Server.spoolTotal). A payload that would pass either
// fails at once: WORK_EXCEPTION (WORK_FAIL for a client without exceptions)
// with the reason, and STREAM_ABORT for the stream.

// spoolChunk is the size of the chunks in which a payload spooled for a
// worker without the extension is held past its first window: the memory
// grows with the payload, never copied to grow.
const spoolChunk = 1 << 20

// errStream answers a breach of the extension's rules; the connection is
// then closed, since the peer and the server no longer agree on its state.
var errStream = []byte("STREAM_ERROR")

// A jstream is the streaming state of a job submitted with SUBMIT_STREAM.
// Every field is guarded by Server.mu.
type jstream struct {
	owner  *conn    // the submitting connection; nil once it has gone
	id     string   // the owner's stream id
	buf    []byte   // payload received and not yet passed on: buf[off:], then more
	off    int      // where the payload not yet passed on starts in buf
	more   [][]byte // the rest of the spool, in chunks of spoolChunk bytes
	n      int      // bytes spooled: len(buf)-off plus those in more
	charge int64    // what counts in Server.spoolTotal (see recharge)
	ended  bool     // STREAM_END came: the payload is complete
	inExt  bool     // queued in fn.streamq (payload incomplete)
	ext    bool     // assigned with JOB_ASSIGN_STREAM: chunks and windows apply
	endOut bool     // the worker has been told the payload's end (or abort)

	clientCredit int64 // payload bytes the owner may still send
	workerCredit int64 // payload bytes the worker will still take
	resultCredit int64 // result bytes the worker may still send
}

// spooled returns the number of payload bytes the server holds.
func (st *jstream) spooled() int { return st.n }

// spool adds data to what the server holds of st's payload. The buffer is
// made a window long at once: the client's credit keeps what an extension
// stream spools within a window, so its buffer never grows, and is kept
// from one drain to the next (see pump) instead of being made anew. What
// passes the window (a payload spooled whole for a plain worker) goes into
// chunks of spoolChunk bytes.
func (st *jstream) spool(data []byte) {
	st.n += len(data)
	if len(st.more) == 0 {
		if st.buf == nil {
			st.buf = make([]byte, 0, max(wire.StreamWindow, len(data)))
		}
		if st.off > 0 && len(st.buf)+len(data) > cap(st.buf) {
			st.buf = st.buf[:copy(st.buf, st.buf[st.off:])]
			st.off = 0
		}
		if len(st.buf)+len(data) <= cap(st.buf) {
			st.buf = append(st.buf, data...)
			return
		}
	}
	for len(data) > 0 {
		if k := len(st.more); k == 0 || len(st.more[k-1]) == cap(st.more[k-1]) {
			st.more = append(st.more, make([]byte, 0, spoolChunk))
		}
		last := &st.more[len(st.more)-1]
		k := min(len(data), cap(*last)-len(*last))
		*last = append(*last, data[:k]...)
		data = data[k:]
	}
}

// take removes up to k bytes from the front of the spool and returns them;
// they stay valid until the next spool.
func (st *jstream) take(k int) []byte {
	if st.off == len(st.buf) && len(st.more) > 0 {
		st.buf, st.off = st.more[0], 0
		st.more[0] = nil
		st.more = st.more[1:]
	}
	k = min(k, len(st.buf)-st.off)
	b := st.buf[st.off : st.off+k]
	st.off += k
	st.n -= k
	return b
}

// whole returns the spooled payload as one slice of about its size and
// empties the spool: the window buffer as it is when the payload about
// fills it, else one copy of its exact size (the chunks are then dropped).
func (st *jstream) whole() []byte {
	data := st.buf[st.off:]
	if len(st.more) > 0 || cap(data) > len(data)+len(data)/8+4096 {
		data = make([]byte, 0, st.n)
		data = append(data, st.buf[st.off:]...)
		for _, m := range st.more {
			data = append(data, m...)
		}
	}
	st.buf, st.off, st.more, st.n = nil, 0, nil, 0
	return data
}

// handleStream handles a packet of the extension from c; it returns false
// when the connection must close.
func (s *Server) handleStream(c *conn, p wire.Packet) bool {
	if !c.chunks {
		c.sendError(errNotExpected)
		return true
	}
	switch p.Type {
	case wire.SubmitStream:
		return s.submitStream(c, p.Args)
	case wire.StreamData:
		return s.streamData(c, string(p.Args[0]), p.Args[1])
	case wire.StreamEnd, wire.StreamAbort:
		return s.streamClose(c, string(p.Args[0]), p.Type == wire.StreamAbort)
	case wire.PayloadWindow:
		return s.payloadWindow(c, p.Args[0], p.Args[1])
	case wire.ResultWindow:
		return s.resultWindow(c, p.Args[0], p.Args[1])
	}
	c.sendError(errNotExpected)
	return true
}

// violation answers a breach of the extension with ERROR STREAM_ERROR and
// closes c once the ERROR is sent.
func (s *Server) violation(c *conn, why string) bool {
	s.logWarn("streaming extension violated; closing the connection", "conn", c.id, "addr", c.ip, "why", why)
	c.send(wire.Res, wire.Error, errStream, []byte(why))
	c.nc.SetReadDeadline(time.Now())
	return false
}

// submitStream handles SUBMIT_STREAM: stream id, submit type, function,
// first chunk.
func (s *Server) submitStream(c *conn, a [][]byte) bool {
	id, fn, data := string(a[0]), a[2], a[3]
	if len(id) == 0 || len(id) > wire.MaxStreamID {
		return s.violation(c, "invalid stream id")
	}
	if _, dup := c.streams[id]; dup {
		return s.violation(c, "stream id "+id+" is in use")
	}
	if len(data) > wire.StreamWindow {
		return s.violation(c, "first chunk larger than the initial window")
	}
	if c.streams == nil {
		c.streams = make(map[string]*job)
	}
	c.streams[id] = nil // refused until a job is made: chunks are dropped
	n, _ := strconv.Atoi(string(a[1]))
	t := wire.Type(n)
	if !t.PlainSubmit() {
		c.send(wire.Res, wire.Error, errBadArgument[0], []byte("SUBMIT_STREAM takes a plain submit type"))
		return true
	}
	if s.draining {
		c.sendError(errShuttingDown)
		return true
	}
	prio, bg := submitKind(t)
	f := s.fn(fn)
	if lim := f.maxQueue[prio]; lim > 0 && f.total >= lim {
		c.sendError(errQueueFull)
		return true
	}
	s.nextJob++
	j := &job{id: s.nextJob, fn: f, prio: int8(prio), bg: bg, heapi: -1, created: s.clock.Now().UnixNano()}
	j.st = &jstream{owner: c, id: id, clientCredit: wire.StreamWindow - int64(len(data))}
	j.st.spool(data)
	s.jobs[j.id] = j
	f.total++
	c.streams[id] = j
	if !bg {
		s.attach(c, j)
	}
	s.replyCreated(c, j)
	s.recordSubmit(t, &submitReq{fn: fn, data: data}, j)
	j.state = stateQueued
	j.st.inExt = true
	s.mStreamQueued(j)
	f.streamq[j.prio].pushBack(j)
	s.wakeExt(f)
	s.grantClient(j)
	return true
}

// streamData handles a chunk from a client.
func (s *Server) streamData(c *conn, id string, data []byte) bool {
	j, open := c.streams[id]
	if !open {
		return s.violation(c, "STREAM_DATA for stream "+id+", which is not open")
	}
	if j == nil {
		return true // refused or dropped: the client learns it otherwise
	}
	st := j.st
	if st.ended {
		return s.violation(c, "STREAM_DATA after STREAM_END on stream "+id)
	}
	if int64(len(data)) > st.clientCredit {
		return s.violation(c, "STREAM_DATA beyond the window on stream "+id)
	}
	st.clientCredit -= int64(len(data))
	if st.ext && st.spooled() == 0 && int64(len(data)) <= st.workerCredit && j.worker != nil {
		// The fast path: straight from the read buffer to the worker.
		st.workerCredit -= int64(len(data))
		s.hbuf = s.appendHandle(s.hbuf[:0], j)
		j.worker.send(wire.Res, wire.StreamData, s.hbuf, data)
	} else {
		st.spool(data)
		s.pump(j)
	}
	s.grantClient(j)
	s.recharge(j)
	return true
}

// streamClose handles STREAM_END and STREAM_ABORT from a client; either
// releases the stream id.
func (s *Server) streamClose(c *conn, id string, abort bool) bool {
	j, open := c.streams[id]
	if !open {
		return s.violation(c, "stream "+id+" is not open")
	}
	delete(c.streams, id)
	if j == nil {
		return true
	}
	st := j.st
	st.owner = nil
	if abort {
		s.dropStream(j)
		return true
	}
	st.ended = true
	if !st.ext {
		// Complete before an extension worker has it: held as one buffer
		// of its size until a worker takes it.
		data := st.whole()
		st.buf, st.n = data, len(data)
	}
	s.recharge(j) // the owner's unused credit no longer counts
	if st.inExt {
		// Complete while queued: any worker can take it now, in order of
		// arrival among the jobs every worker can take.
		st.inExt = false
		j.fn.streamq[j.prio].remove(j)
		j.fn.queue[j.prio].pushBack(j)
		s.wakeFor(j.fn)
	}
	s.pump(j)
	return true
}

// payloadWindow handles PAYLOAD_WINDOW from a worker.
func (s *Server) payloadWindow(c *conn, h, delta []byte) bool {
	d, err := strconv.ParseInt(string(delta), 10, 64)
	if err != nil || d <= 0 || d > 1<<40 {
		return s.violation(c, "invalid PAYLOAD_WINDOW delta")
	}
	j := s.lookup(h)
	if j == nil || j.st == nil || j.worker != c || !j.st.ext {
		return true // a job that has ended: late credit is ignored
	}
	j.st.workerCredit += d
	s.pump(j)
	s.grantClient(j)
	return true
}

// resultWindow handles RESULT_WINDOW from a client and relays it to the
// worker.
func (s *Server) resultWindow(c *conn, h, delta []byte) bool {
	d, err := strconv.ParseInt(string(delta), 10, 64)
	if err != nil || d <= 0 || d > 1<<40 {
		return s.violation(c, "invalid RESULT_WINDOW delta")
	}
	j := s.lookup(h)
	if j == nil || j.st == nil || !j.st.ext || j.worker == nil || c.attached[j] == 0 {
		return true
	}
	j.st.resultCredit += d
	j.worker.send(wire.Res, wire.ResultWindow, h, delta)
	return true
}

// pump passes spooled payload to an extension worker as far as its credit
// goes, then STREAM_END once the payload is complete and passed on.
func (s *Server) pump(j *job) {
	st := j.st
	if !st.ext || j.worker == nil || st.endOut {
		return
	}
	for st.spooled() > 0 && st.workerCredit > 0 {
		b := st.take(int(min(st.workerCredit, wire.StreamWindow)))
		s.hbuf = s.appendHandle(s.hbuf[:0], j)
		j.worker.send(wire.Res, wire.StreamData, s.hbuf, b)
		st.workerCredit -= int64(len(b))
	}
	s.recharge(j)
	if st.spooled() == 0 {
		st.buf, st.off = st.buf[:0], 0
		if cap(st.buf) > wire.StreamWindow {
			st.buf = nil
		}
		if st.ended {
			st.endOut = true
			s.hbuf = s.appendHandle(s.hbuf[:0], j)
			j.worker.send(wire.Res, wire.StreamEnd, s.hbuf)
		}
	}
}

// grantClient gives the owner more payload credit, lazily: only when at
// least half a window is due. The server holds what the owner sent and the
// worker has not taken; it lets that and the owner's credit reach one
// window, so that it gives credit only as a worker takes the payload. A job
// that only workers without the extension can take is spooled whole
// instead (grantSpool).
func (s *Server) grantClient(j *job) {
	st := j.st
	c := st.owner
	if c == nil || c.gone || st.ended {
		return
	}
	if !st.ext && j.fn.extWorkers == 0 && j.fn.workers > 0 {
		s.grantSpool(j)
		return
	}
	s.grant(j, wire.StreamWindow-int64(st.spooled())-st.clientCredit)
}

// grant gives j's owner due bytes more credit, if due is at least half a
// window.
func (s *Server) grant(j *job, due int64) {
	if due >= wire.StreamWindow/2 {
		s.grantNow(j, due)
	}
}

// grantNow gives j's owner due > 0 bytes more credit.
func (s *Server) grantNow(j *job, due int64) {
	st := j.st
	st.clientCredit += due
	s.recharge(j)
	var b [20]byte
	st.owner.send(wire.Res, wire.PayloadWindow, []byte(st.id), itoa(b[:0], due))
}

// grantSpool gives credit to the owner of a job that only workers without
// the extension can take, which must be given the payload whole: a window
// ahead of what came, as the relay does, up to half a window past
// Config.MaxSpool (so that a writer waiting for a chunk's worth of credit
// can go on, and a payload of MaxSpool bytes can end), and within what
// Config.MaxSpoolTotal leaves. The payload fails at once when it
// passes MaxSpool, or when its owner holds less than half a window of
// credit and the spool cannot make up the rest.
func (s *Server) grantSpool(j *job) {
	st := j.st
	if int64(st.spooled()) > s.cfg.MaxSpool {
		s.refuseStream(j, fmt.Sprintf("longer than the %d bytes it holds for a worker without the streaming extension (MaxSpool)", s.cfg.MaxSpool))
		return
	}
	s.recharge(j)
	due := min(wire.StreamWindow-st.clientCredit, // a window ahead, so that the spool counts what came
		s.cfg.MaxSpool+wire.StreamWindow/2-int64(st.spooled())-st.clientCredit,
		s.cfg.MaxSpoolTotal-s.spoolTotal)
	switch {
	case st.clientCredit >= wire.StreamWindow/2:
		s.grant(j, due) // lazily
	case st.clientCredit+due < wire.StreamWindow/2:
		s.refuseStream(j, fmt.Sprintf("its spool for workers without the streaming extension is full (MaxSpoolTotal, %d bytes)", s.cfg.MaxSpoolTotal))
	case due > 0:
		s.grantNow(j, due)
	}
}

// assignStream hands stream job j to extension worker c with
// JOB_ASSIGN_STREAM and as much of the payload as its window takes.
func (s *Server) assignStream(c *conn, j *job, h []byte) {
	st := j.st
	name := []byte(j.fn.name)
	st.ext = true
	st.workerCredit = wire.StreamWindow
	st.resultCredit = wire.StreamWindow
	b := st.take(wire.StreamWindow)
	c.send(wire.Res, wire.JobAssignStream, h, name, b)
	st.workerCredit -= int64(len(b))
	s.pump(j)
	s.grantClient(j)
}

// streamResult checks the result data a worker sends for a stream job
// against its window; it returns false for a breach. Result data nobody
// will read is credited back at once.
func (s *Server) streamResult(c *conn, j *job, n int) bool {
	st := j.st
	if !st.ext {
		return true
	}
	if int64(n) > st.resultCredit {
		return s.violation(c, "result data beyond the window")
	}
	st.resultCredit -= int64(n)
	if len(j.clients) == 0 && n > 0 {
		st.resultCredit += int64(n)
		var b [20]byte
		s.hbuf = s.appendHandle(s.hbuf[:0], j)
		c.send(wire.Res, wire.ResultWindow, s.hbuf, itoa(b[:0], int64(n)))
	}
	return true
}

// dropStream ends stream job j whose payload will not complete: its clients
// get WORK_FAIL, its worker STREAM_ABORT, and it is forgotten.
func (s *Server) dropStream(j *job) {
	if j.state == stateDone {
		return
	}
	s.failClients(j)
	s.freeDetachedOrRunning(j)
}

// freeDetachedOrRunning frees j in whatever state it is.
func (s *Server) freeDetachedOrRunning(j *job) {
	if j.state == stateRunning {
		s.finish(j)
		return
	}
	s.free(j)
}

// unstream tidies the streaming state of a job being freed (release has
// told its worker): the owner's stream id stays reserved, so that chunks
// still in flight are dropped, and the owner gets STREAM_ABORT, so that a
// writer waiting for credit stops.
func (s *Server) unstream(j *job) {
	st := j.st
	if c := st.owner; c != nil {
		if c.streams[st.id] == j {
			c.streams[st.id] = nil
			if !c.gone {
				c.send(wire.Res, wire.StreamAbort, []byte(st.id))
			}
		}
		st.owner = nil
	}
	st.buf, st.off, st.more, st.n = nil, 0, nil, 0
	s.recharge(j)
}

// unspool empties the spool of stream job j, which a worker without the
// extension takes as a plain job, and returns its payload whole.
func (s *Server) unspool(j *job) []byte {
	data := j.st.whole()
	s.recharge(j)
	return data
}

// recharge brings what j counts in Server.spoolTotal up to date: what the
// server holds of its payload and has let its owner send, beyond the one
// window every stream job may hold.
func (s *Server) recharge(j *job) {
	st := j.st
	want := int64(st.n) - wire.StreamWindow
	if !st.ended && st.owner != nil {
		want += st.clientCredit
	}
	want = max(want, 0)
	s.spoolTotal += want - st.charge
	st.charge = want
}

// refuseStream fails stream job j, whose payload the server will not hold,
// with why: its clients get WORK_EXCEPTION (WORK_FAIL without the
// exceptions option), its owner STREAM_ABORT for the stream.
func (s *Server) refuseStream(j *job, why string) {
	s.logWarn("stream payload refused", "handle", s.handleString(j), "function", j.fn.name, "why", why)
	s.hbuf = s.appendHandle(s.hbuf[:0], j)
	msg := []byte("job server refused the payload: " + why)
	for _, c := range j.clients {
		if c.exceptions {
			c.sendFor(wire.WorkException, s.hbuf, msg)
		} else {
			c.sendFor(wire.WorkFail, s.hbuf)
		}
	}
	s.detachClients(j)
	s.freeDetachedOrRunning(j)
}

// dropStreams drops the unfinished payloads of a connection that has gone,
// and the streamed foreground jobs it alone waited for.
func (s *Server) dropStreams(c *conn) {
	for _, j := range c.streams {
		if j != nil {
			j.st.owner = nil
			s.dropStream(j)
		}
	}
	c.streams = nil
	for j := range c.attached {
		if j.st != nil && j.st.ext && j.state == stateRunning && len(j.clients) == c.attached[j] {
			s.dropStream(j)
		}
	}
}

// wakeExt NOOPs one sleeping extension worker of f for a new stream job
// (which the other workers cannot take before its payload is complete):
// a grab-high one first when f has a high stream job.
func (s *Server) wakeExt(f *function) {
	if f.streamq[prioHigh].n > 0 && s.wakeExtFrom(f, &f.highSleepers) {
		return
	}
	s.wakeExtFrom(f, &f.sleepers)
}

// wakeExtFrom is wakeExt on one of f's lists of sleepers; it reports
// whether it woke one.
func (s *Server) wakeExtFrom(f *function, list *[]sleeper) bool {
	for i, e := range *list {
		c := e.c
		if c.gone || !c.sleeping || c.noopSent || e.gen != c.sleepGen || !c.chunks || !c.canTake(f) {
			continue
		}
		*list = append((*list)[:i], (*list)[i+1:]...)
		if c.allYours && !s.draining {
			c.sleeping = false
			if j := s.pick(c); j != nil {
				s.assign(c, j, c.grabType)
			}
			return true
		}
		c.noopSent = true
		s.noteWake(c, f, true)
		c.send(wire.Res, wire.Noop)
		return true
	}
	return false
}

// extQueued reports whether f has stream jobs only extension workers can
// take.
func (f *function) extQueued() bool {
	return !f.stalled && f.streamq[0].n+f.streamq[1].n+f.streamq[2].n > 0
}

// streamWorker runs when c registers for f: a first worker without the
// extension lets f's waiting stream jobs spool for it.
func (s *Server) streamWorker(c *conn, f *function) {
	if !c.chunks && f.extWorkers == 0 {
		s.regrant(f)
	}
}

// regrant gives the waiting stream jobs of f the credit their function's
// workers now call for: a spool beyond one window once only workers
// without the extension are left to take them (see grantClient).
func (s *Server) regrant(f *function) {
	for p := range nPrio {
		for j := f.streamq[p].head; j != nil; {
			next := j.next // grantClient may drop j
			s.grantClient(j)
			j = next
		}
	}
}
