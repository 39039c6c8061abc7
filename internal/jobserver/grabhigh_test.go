package jobserver

import "testing"

// Grab-high sleepers cost a job of another priority nothing: with a
// thousand of them asleep on a function and its low and normal jobs
// waiting, waking for one more job looks at none of them (no allocation,
// none woken), whether they slept with the option or took it after going
// to sleep; a high job then wakes one of them, not all.
func TestWakeForPassesGrabHighSleepersByForFree(t *testing.T) {
	s := &Server{}
	f := &function{name: "f"}
	var conns []*conn
	for i := range 1000 {
		c := &conn{highOnly: true, sleeping: true, sleepGen: 1}
		conns = append(conns, c)
		f.workers++
		if i%2 == 0 {
			s.addSleeper(f, c)
		} else {
			// Asleep first, the option after.
			c.highOnly = false
			s.addSleeper(f, c)
			c.highOnly = true
		}
	}
	f.queue[prioLow].n = 5
	f.queue[prioNormal].n = 5
	s.wakeFor(f) // moves the late option's sleepers to their list
	if allocs := testing.AllocsPerRun(100, func() { s.wakeFor(f) }); allocs != 0 {
		t.Errorf("wakeFor allocates %v times with grab-high sleepers and no high job; want 0", allocs)
	}
	if n := len(f.sleepers); n != 0 {
		t.Errorf("%d grab-high connections among the plain sleepers; want 0", n)
	}
	for i, c := range conns {
		if c.noopSent {
			t.Fatalf("grab-high connection %d woken without a high job", i)
		}
	}
	if len(f.highSleepers) != len(conns) {
		t.Fatalf("%d grab-high sleepers left; want %d", len(f.highSleepers), len(conns))
	}
}
