package jobserver

import "testing"

// BenchmarkMetricsHooks is what counting adds to one job's life with
// metrics on (submitted, queued, started, ended: three clock readings,
// two histogram observations, a few increments), against the same calls
// with metrics off (a nil check each). The server's whole cost per job is
// tens of microseconds (BENCHMARKS.md).
func BenchmarkMetricsHooks(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := New(Config{HandlePrefix: "H:bench"})
			defer s.Close()
			if on {
				s.EnableMetrics(0)
			}
			f := s.fn([]byte("echo"))
			j := &job{fn: f, heapi: -1}
			b.ReportAllocs()
			s.mu.Lock()
			defer s.mu.Unlock()
			for b.Loop() {
				s.mSubmitted(f)
				s.mQueued(j)
				j.state = stateRunning
				s.mStarted(j)
				s.mEnded(j, ResultComplete)
				j.state = stateQueued
			}
		})
	}
}
