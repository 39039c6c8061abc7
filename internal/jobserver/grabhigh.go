package jobserver

// A connection with the grab-high option (wire.OptionGrabHigh) takes only
// high-priority jobs: its grabs look at the high queues alone, PRE_SLEEP
// finds work only there, and wake-ups for other jobs pass it by: it
// sleeps in a list of its own (function.highSleepers), looked at only for
// high jobs.

// prios returns how many priority levels c's grabs look at, from the
// highest: all of them, or only the high one.
func (c *conn) prios() int {
	if c.highOnly {
		return prioHigh + 1
	}
	return nPrio
}

// canTake reports whether f has a queued job that c's grab would take.
func (c *conn) canTake(f *function) bool {
	if f.stalled {
		return false
	}
	if !c.highOnly {
		return f.queued() > 0 || c.chunks && f.extQueued()
	}
	return f.queue[prioHigh].n > 0 || c.chunks && f.streamq[prioHigh].n > 0
}

// highQueued is how many high jobs f has for grab-high workers to take now.
func (f *function) highQueued() int {
	if f.stalled {
		return 0
	}
	return f.queue[prioHigh].n
}
