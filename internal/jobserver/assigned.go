package jobserver

import "github.com/seed749d6d6d/gearman/wire"

// A client connection with the job-assigned option (wire.OptionAssigned)
// is told when a foreground job it waits on starts: at each assignment to
// a worker, WORK_STATUS with progress 0 of 0, before anything the worker
// sends; and when it submits a job that already runs (unique id), WORK_STATUS
// with the job's progress so far, just after JOB_CREATED.

// announceStart tells j's clients that asked for it that j was just
// assigned; h is j's handle. s.mu held.
func (s *Server) announceStart(j *job, h []byte) {
	for _, cl := range j.clients {
		if cl.assignedNotices {
			cl.sendFor(wire.WorkStatus, h, zero, zero)
		}
	}
}

// announceJoined tells c, which asked for it and has just been answered
// JOB_CREATED for running job j, that j runs, with its progress so far.
// s.mu held.
func (s *Server) announceJoined(c *conn, j *job) {
	if !c.assignedNotices || j.state != stateRunning || len(c.acks) > 0 {
		return
	}
	var nb, db [20]byte
	s.hbuf = s.appendHandle(s.hbuf[:0], j)
	c.send(wire.Res, wire.WorkStatus, s.hbuf, itoa(nb[:0], j.num), itoa(db[:0], j.den))
}
