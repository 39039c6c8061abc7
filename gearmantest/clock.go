package gearmantest

import (
	"slices"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/internal/clock"
)

// offsetClock is the server's clock: the time package's (virtual inside a
// testing/synctest bubble) plus an offset that only grows, so that
// FastForward can move the server ahead without sleeping. Its timers are
// real timers, re-armed when the offset moves; those that come due by a
// move run in the goroutine that moved it, so that FastForward returns
// with their effects done.
//
// It is not internal/clock's Fake, the clock of this module's own server
// tests, whose time stands still until the test moves it: a user's test
// sleeps (in a bubble or not) and expects the server's timers, a
// CAN_DO_TIMEOUT say, to fire as that time passes.
type offsetClock struct {
	changed func() // called after each timer function, outside mu

	mu     sync.Mutex
	offset time.Duration          // guarded by mu
	timers map[*offTimer]struct{} // guarded by mu; pending
	closed bool                   // guarded by mu; timers no longer run
	wg     sync.WaitGroup         // timer functions running
}

var _ clock.Clock = (*offsetClock)(nil)

func newOffsetClock(changed func()) *offsetClock {
	return &offsetClock{changed: changed, timers: make(map[*offTimer]struct{})}
}

// Now returns the time package's time plus the offset.
func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// AfterFunc runs f once the clock reads d later than now.
func (c *offsetClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &offTimer{c: c, when: time.Now().Add(c.offset + d), f: f}
	c.timers[t] = struct{}{}
	t.t = time.AfterFunc(d, t.fire)
	return t
}

// advance moves the clock d ahead and runs, in this goroutine and in time
// order, the timers that have come due.
func (c *offsetClock) advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	now := time.Now().Add(c.offset)
	var due []*offTimer
	for t := range c.timers {
		if left := t.when.Sub(now); left <= 0 {
			due = append(due, t)
		} else {
			t.t.Reset(left)
		}
	}
	for _, t := range due {
		delete(c.timers, t)
		t.t.Stop()
	}
	if c.closed {
		due = nil
	}
	c.wg.Add(len(due))
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *offTimer) int { return a.when.Compare(b.when) })
	for _, t := range due {
		t.f()
		c.wg.Done()
		c.changed()
	}
}

// close stops every timer and waits for the timer functions running.
func (c *offsetClock) close() {
	c.mu.Lock()
	c.closed = true
	for t := range c.timers {
		t.t.Stop()
	}
	clear(c.timers)
	c.mu.Unlock()
	c.wg.Wait()
}

// offTimer is a pending call of offsetClock.AfterFunc.
type offTimer struct {
	c    *offsetClock
	when time.Time // in the clock's time
	f    func()
	t    *time.Timer // guarded by c.mu
}

// fire runs when the real timer expires.
func (t *offTimer) fire() {
	c := t.c
	c.mu.Lock()
	if _, ok := c.timers[t]; !ok || c.closed {
		c.mu.Unlock()
		return
	}
	delete(c.timers, t)
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	t.f()
	c.changed()
}

// Stop prevents the call if it has not started, and reports whether it did.
func (t *offTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.timers[t]; !ok {
		return false
	}
	delete(c.timers, t)
	t.t.Stop()
	return true
}
