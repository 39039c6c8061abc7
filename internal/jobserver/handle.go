package jobserver

import (
	"bytes"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// Error bodies gearmand sends, by code and text.
var (
	errInvalidMagic   = [2][]byte{[]byte("INVALID_MAGIC"), []byte("Request magic expected")}
	errNotExpected    = [2][]byte{[]byte("INVALID_COMMAND"), []byte("Command not expected")}
	errUniqueTooLarge = [2][]byte{[]byte("ARGUMENT_TOO_LARGE"), []byte("Unique value too large")}
	errQueueFull      = [2][]byte{[]byte("QUEUE_ERROR"), []byte("Job queue is full")}
	errUnknownOption  = [2][]byte{[]byte("UNKNOWN_OPTION"), []byte("Server does not recognize given option")}
	errNoJobData      = [2][]byte{[]byte("JOB_NOT_FOUND"), []byte("Job does not exist on server")}
	errNoJobResult    = [2][]byte{[]byte("JOB_NOT_FOUND"), []byte("Job given in work result not found")}
	errNoJobException = [2][]byte{[]byte("JOB_NOT_FOUND"), []byte("An exception was received for a job that does not exist")}
	errShuttingDown   = [2][]byte{[]byte("SHUTDOWN_GRACEFUL"), []byte("Server is shutting down")}
	errBadArgument    = [2][]byte{[]byte("INVALID_ARGUMENT"), []byte("Invalid argument")}
)

// Errors of the streaming option, which gearmand does not have.
var (
	// errUniqueStreaming refuses a foreground submit with a unique id on a
	// streaming connection: a second client attaching to the job would
	// miss the WORK_DATA already sent (the abraxas server's rule; it used
	// the code NO_SUCH_JOB, which says nothing, so this code is ours).
	errUniqueStreaming = [2][]byte{[]byte("UNIQUE_NOT_ALLOWED"), []byte("A foreground job with a unique id cannot be submitted on a streaming connection")}
)

func (c *conn) sendError(e [2][]byte) { c.send(wire.Res, wire.Error, e[0], e[1]) }

// option answers OPTION_REQ: the name is matched without regard to case
// and echoed as sent.
func (s *Server) option(c *conn, name []byte) {
	switch {
	case bytes.EqualFold(name, []byte(wire.OptionExceptions)):
		c.exceptions = true
	case bytes.EqualFold(name, []byte(wire.OptionStreaming)):
		c.streaming = true
	case bytes.EqualFold(name, []byte(wire.OptionGrabHigh)):
		c.highOnly = true
	case bytes.EqualFold(name, []byte(wire.OptionAssigned)):
		c.assignedNotices = true
	case bytes.EqualFold(name, []byte(wire.OptionStreamChunks)):
		if !c.streaming {
			c.send(wire.Res, wire.Error, errUnknownOption[0], []byte("stream-chunks needs the streaming option first"))
			return
		}
		c.chunks = true
	default:
		c.sendError(errUnknownOption)
		return
	}
	c.send(wire.Res, wire.OptionRes, name)
}

// handle handles one request from c; it returns false when the connection
// must close.
func (s *Server) handle(c *conn, p wire.Packet) bool {
	if p.Magic == wire.Text {
		ok := s.admin(c, p.Arg(0))
		s.changed()
		return ok
	}
	if p.Magic != wire.Req {
		c.sendError(errInvalidMagic)
		return true
	}
	if s.shared != nil && (p.Type == wire.GetStatus || p.Type == wire.GetStatusUnique) && s.remoteStatus(c, p) {
		return true
	}
	s.mu.Lock()
	s.deferring, s.deferred = true, c.deferBuf[:0]
	defer s.unlockFlushing(c)
	if c.gone {
		return false
	}
	defer s.changed()
	if ok, keep := s.checkName(c, p); !ok {
		return keep
	}
	if p.Type.IsExt() {
		return s.handleStream(c, p)
	}
	if p.Type.PlainSubmit() { // the function, the unique id, the payload
		s.submit(c, p.Type, submitReq{fn: p.Args[0], unique: p.Args[1], data: p.Args[2]})
		return true
	}
	switch p.Type {
	case wire.EchoReq:
		c.send(wire.Res, wire.EchoRes, p.Args[0])
	case wire.SubmitJobEpoch:
		when, _ := strconv.ParseInt(string(p.Args[2]), 10, 64) // rubbish = 0 = now, as gearmand
		s.submit(c, p.Type, submitReq{fn: p.Args[0], unique: p.Args[1], data: p.Args[3], when: when})
	case wire.SubmitJobSched:
		sc, err := parseSchedule(p.Args[2:7])
		if err != nil {
			c.send(wire.Res, wire.Error, errBadArgument[0], []byte(err.Error()))
			return true
		}
		s.submit(c, p.Type, submitReq{fn: p.Args[0], unique: p.Args[1], data: p.Args[7], sched: sc, schedArgs: p.Args[2:7]})
	case wire.SubmitReduceJob, wire.SubmitReduceJobBackground:
		s.submit(c, p.Type, submitReq{fn: p.Args[0], unique: p.Args[1], reducer: p.Args[2], data: p.Args[4]})
	case wire.GetStatus:
		s.getStatus(c, p.Args[0])
	case wire.GetStatusUnique:
		s.getStatusUnique(c, p.Args[0])
	case wire.OptionReq:
		s.option(c, p.Args[0])
	case wire.SetClientID:
		s.setClientID(c, p.Args[0])
	case wire.CanDo:
		s.canDo(c, p.Args[0], 0)
	case wire.CanDoTimeout:
		ms, _ := strconv.ParseInt(string(p.Args[1]), 10, 64)
		var d time.Duration
		if ms > 0 {
			d = time.Duration(max(ms, 1000)) * time.Millisecond
		}
		s.canDo(c, p.Args[0], d)
	case wire.CantDo:
		s.cantDo(c, p.Args[0])
	case wire.ResetAbilities:
		s.resetAbilities(c)
	case wire.PreSleep:
		s.preSleep(c)
	case wire.GrabJob, wire.GrabJobUniq, wire.GrabJobAll:
		s.grab(c, p.Type)
	case wire.AllYours:
		c.allYours = true
	case wire.WorkData, wire.WorkWarning, wire.WorkStatus, wire.WorkComplete,
		wire.WorkFail, wire.WorkException:
		return s.work(c, p)
	default: // a response-only type
		c.sendError(errNotExpected)
	}
	return true
}

// deferWake leaves the wake-up of c's writer, which the engine has just
// given output, to the reader whose request is being handled: once it has
// released s.mu, it writes the output itself if the socket takes it at once
// (unlockFlushing), which saves waking a goroutine on the path of a job
// from one connection to another. Outside a request, it wakes the writer.
// s.mu held.
func (s *Server) deferWake(c *conn) {
	switch {
	case !s.deferring:
		c.wakeWriter()
	case !c.wakeDeferred:
		c.wakeDeferred = true
		s.deferred = append(s.deferred, c)
	}
}

// unlockFlushing releases s.mu at the end of c's request, then sends what
// the request gave other connections (see deferWake).
func (s *Server) unlockFlushing(c *conn) {
	list := s.deferred
	s.deferring, s.deferred = false, nil
	for _, t := range list {
		t.wakeDeferred = false
	}
	s.mu.Unlock()
	for _, t := range list {
		t.tryFlush()
	}
	clear(list)
	c.deferBuf = list[:0]
}
