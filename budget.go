package gearman

import "sync"

// jobBudget is a limit on the jobs several connections' workers run at once:
// a pool's MaxJobs, one budget across all its servers. A connection reserves
// a slot before it grabs (the grab may bring a job), keeps it while the job
// runs, and gives it back after NO_JOB or when the job ends. Connections that
// found the budget spent wait in line and are kicked when a slot frees.
//
// A budget with a parent takes each slot from the parent too: a pool's
// ordinary connections, bounded to the slots not reserved for high-priority
// jobs, within the pool's MaxJobs (see pool_priority.go).
type jobBudget struct {
	mu      sync.Mutex
	max     int
	used    int
	waiters []*Conn
	parent  *jobBudget
}

func newJobBudget(max int) *jobBudget { return &jobBudget{max: max} }

func newChildBudget(max int, parent *jobBudget) *jobBudget {
	return &jobBudget{max: max, parent: parent}
}

// reserve takes a slot for c, or puts c in line and reports false.
func (b *jobBudget) reserve(c *Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used < b.max {
		if b.parent != nil && !b.parent.reserve(c) {
			return false // in the parent's line
		}
		b.used++
		return true
	}
	for _, w := range b.waiters {
		if w == c {
			return false
		}
	}
	b.waiters = append(b.waiters, c)
	return false
}

// release gives n slots back and kicks the connections in line. It must be
// called with no connection's lock held.
func (b *jobBudget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	waiters := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	if b.parent != nil {
		b.parent.release(n)
	}
	for _, c := range waiters {
		c.kick()
	}
}

// kick makes c look for work again (a budget slot freed up).
func (c *Conn) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeGrab()
}

// haveSlot reports whether c may grab one more job, reserving a budget slot
// when it has a budget. c.mu held.
func (c *Conn) haveSlot() bool {
	if c.w.budget != nil {
		return c.w.budget.reserve(c)
	}
	return c.w.running+c.w.grabbing < c.opts.MaxJobs
}

// releaseSlot gives a budget slot back; it must be called without c.mu.
func (c *Conn) releaseSlot() {
	if c.w.budget != nil {
		c.w.budget.release(1)
	}
}
