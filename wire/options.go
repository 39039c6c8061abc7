package wire

// Names of the OPTION_REQ options this module's server knows: gearmand's
// "exceptions" and those beyond it. A server that does not know one
// answers ERROR, as gearmand does for every name but "exceptions".
const (
	// OptionExceptions asks the server to forward WORK_EXCEPTION packets
	// to this client (gearmand's option).
	OptionExceptions = "exceptions"

	// OptionStreaming turns on streaming mode, with the abraxas server's
	// semantics: a job whose streaming worker disconnects fails instead of
	// running again, and a foreground submit with a unique id on the
	// connection is refused. gearmand answers ERROR UNKNOWN_OPTION.
	OptionStreaming = "streaming"

	// OptionStreamChunks turns on the streaming extension's packets
	// (SUBMIT_STREAM, STREAM_DATA, credit); it needs OptionStreaming
	// first.
	OptionStreamChunks = "stream-chunks"

	// OptionGrabHigh makes every grab of this connection (GRAB_JOB,
	// GRAB_JOB_UNIQ, GRAB_JOB_ALL) take only jobs of high priority: the
	// others stay queued for other connections, and the server answers
	// NO_JOB when no high job is queued for the connection's functions.
	// PRE_SLEEP then sleeps until a high job comes, and the server wakes
	// the connection (NOOP) only for high jobs. It stays on for the
	// connection's life. A worker keeps slots for high-priority jobs with
	// a connection of this kind beside its ordinary one, whose jobs it
	// bounds: GRAB_JOB says nothing of a job's priority, and gearmand's
	// priority is a job's, not a function's, so on a server without this
	// option no connection can leave the low jobs to others.
	OptionGrabHigh = "grab-high"

	// OptionAssigned asks the server to tell this client when a
	// foreground job it submitted starts: at each assignment to a worker
	// the server sends WORK_STATUS for the job with numerator and
	// denominator "0" (a run starting with no progress), before any packet
	// of the worker; a submit that joins a job already running (same
	// unique id) gets, just after JOB_CREATED, WORK_STATUS with the job's
	// progress so far. A client without the option never gets these. It
	// is a WORK_STATUS rather than a packet of its own so that any client
	// library reads it, as progress; a client that asked takes the first
	// WORK_STATUS of a job as "it runs" (a worker's own WORK_STATUS can
	// only come after it). It stays on for the connection's life; asking
	// again, or on a worker's connection, changes nothing. gearmand
	// answers ERROR UNKNOWN_OPTION, and tells a client nothing of the
	// kind: GET_STATUS is the only way to learn that a job runs there.
	OptionAssigned = "job-assigned"
)
