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
)
