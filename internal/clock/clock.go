// Package clock is the job server's seam for time: every reading of the time
// and every timer of the server goes through a [Clock], so that tests can move
// time with [Fake] instead of sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (the real clock) or in the
	// goroutine that moves time (the fake) once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by [Clock.AfterFunc].
type Timer interface {
	// Stop prevents the call if it has not run yet, and reports whether it
	// did prevent it.
	Stop() bool
}

// Real is the [Clock] of package time.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a [Clock] that moves only when told to. Its zero value is not
// usable; make one with [NewFake]. It is safe for concurrent use.
//
// It is the clock of tests that run the server over real sockets and must
// decide when each of its timers fires. Package gearmantest has a clock of
// its own (offsetClock) for another use: its users' tests run with the time
// package's time, virtual in a testing/synctest bubble, so a server's timer
// there must fire as time passes, as a real one does, and FastForward only
// adds an offset to it. A Fake's timers never fire unless moved, and a
// bubble cannot stand in for a Fake here: a goroutine blocked on a real
// socket stops its time.
type Fake struct {
	mu     sync.Mutex
	now    time.Time    // guarded by mu
	timers []*fakeTimer // guarded by mu; pending timers in no order
	seq    int          // guarded by mu; ties between timers due at once
}

// NewFake returns a fake clock that reads start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc arranges for fn to run when the fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{c: f, when: f.now.Add(d), fn: fn, seq: f.seq}
	f.timers = append(f.timers, t)
	return t
}

// Advance moves the time forward by d and runs, in this goroutine and in
// time order, every function that has come due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the time to t (never backwards) and runs the functions due.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		sort.Slice(f.timers, func(i, j int) bool {
			a, b := f.timers[i], f.timers[j]
			if !a.when.Equal(b.when) {
				return a.when.Before(b.when)
			}
			return a.seq < b.seq
		})
		if len(f.timers) == 0 || f.timers[0].when.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		next := f.timers[0]
		f.timers = f.timers[1:]
		if next.when.After(f.now) {
			f.now = next.when
		}
		f.mu.Unlock()
		next.fn()
	}
}

type fakeTimer struct {
	c    *Fake
	when time.Time
	fn   func()
	seq  int
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
