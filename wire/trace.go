package wire

// HasHandle reports whether the first argument of a packet of type t is a
// job handle: the WORK_* packets, JOB_CREATED, the JOB_ASSIGN packets,
// GET_STATUS and STATUS_RES; for the streaming extension's packets that
// name a job, a stream id or a handle.
func (t Type) HasHandle() bool {
	switch t {
	case JobCreated, WorkStatus, WorkComplete, WorkFail, WorkException, WorkData, WorkWarning,
		JobAssign, JobAssignUniq, JobAssignAll, GetStatus, StatusRes,
		StreamData, StreamEnd, StreamAbort, JobAssignStream, PayloadWindow, ResultWindow:
		return true
	}
	return false
}

// BodyLen returns the length of the body of a packet of type t whose
// leading arguments are lead and whose data argument, for a type that
// carries data ([Type.HasData]), is dataLen bytes long: the arguments
// separated by NUL bytes, as the header's size field counts them.
func BodyLen(t Type, lead [][]byte, dataLen int64) int64 {
	var n int64
	for _, a := range lead {
		n += int64(len(a))
	}
	if t.HasData() {
		return n + int64(len(lead)) + dataLen
	}
	if len(lead) > 1 {
		n += int64(len(lead) - 1)
	}
	return n
}
