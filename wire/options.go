package wire

// Names of the OPTION_REQ options this module's server knows beyond
// gearmand's "exceptions". A server that does not know one answers ERROR,
// as gearmand does for every name but "exceptions".
const (
	// OptionExceptions asks the server to forward WORK_EXCEPTION packets
	// to this client (gearmand's option).
	OptionExceptions = "exceptions"

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
