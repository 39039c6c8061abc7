package jobserver

import "fmt"

// WakeBound is wakeBound, for the tests of package jobserver_test.
const WakeBound = wakeBound

// CheckWakes returns an error unless the wake-up counts agree with the
// connections: every function's woken and highWoken are the numbers of
// connections whose current NOOP is counted there, none negative; the
// server's count of current wake-ups is the number of connections that
// have one, and each of those has exactly one current record in the FIFO,
// with the timer armed.
func (s *Server) CheckWakes() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	woken := map[*function]int{}
	high := map[*function]int{}
	current := 0
	for c := range s.conns {
		if c.wokenFor != nil {
			woken[c.wokenFor]++
			if c.wokenHigh {
				high[c.wokenFor]++
			}
			if c.wakeID == 0 {
				return fmt.Errorf("conn %d: counted in %q's wake-ups without a current wake-up", c.id, c.wokenFor.name)
			}
		}
		if c.wakeID != 0 {
			current++
			n := 0
			for _, r := range s.wakes[s.wakeHead:] {
				if r.c == c && r.current() {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("conn %d: %d current wake-up records; want 1", c.id, n)
			}
		}
	}
	for _, f := range s.funcs {
		if f.woken != woken[f] || f.highWoken != high[f] {
			return fmt.Errorf("function %q: woken %d, highWoken %d; connections say %d, %d", f.name, f.woken, f.highWoken, woken[f], high[f])
		}
	}
	if s.nWoken != current {
		return fmt.Errorf("%d current wake-ups counted; connections have %d", s.nWoken, current)
	}
	if current > 0 && s.wakeTimer == nil {
		return fmt.Errorf("%d current wake-ups and no expiry timer", current)
	}
	return nil
}
