package jobserver

import (
	"testing"
	"time"
)

// TestRetryWaitDoublesWithinItsJitterAndCap: the n-th retry's wait is
// between half and all of Backoff doubled n-1 times, capped at
// MaxBackoff, and draws differ.
func TestRetryWaitDoublesWithinItsJitterAndCap(t *testing.T) {
	p := RetryPolicy{Retries: 100, Backoff: 10 * time.Second, MaxBackoff: time.Hour}.withDefaults()
	for n := 1; n <= 100; n++ {
		full := min(10*time.Second<<min(n-1, 20), time.Hour)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := p.wait(n)
			if d < full/2 || d > full {
				t.Fatalf("wait(%d) = %v; want within [%v, %v]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("wait(%d) drew %v 50 times: no jitter", n, seen)
		}
	}
	if d := (RetryPolicy{}).withDefaults(); d.Backoff != DefaultRetryBackoff || d.MaxBackoff != DefaultRetryMaxBackoff {
		t.Errorf("defaults = %+v", d)
	}
	if d := (RetryPolicy{Backoff: time.Hour, MaxBackoff: time.Minute}).withDefaults(); d.MaxBackoff != time.Hour {
		t.Errorf("a cap below the backoff: %+v; want the cap raised to it", d)
	}
}
