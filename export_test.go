package gearman

import "time"

// SetParkCheck sets how often connections dialled from now on check for a
// handler that keeps their read loop parked (see park), and returns a
// function that restores the old period.
func SetParkCheck(d time.Duration) (restore func()) {
	old := parkCheck
	parkCheck = d
	return func() { parkCheck = old }
}
