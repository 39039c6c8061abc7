package jobserver

import "time"

// timedHeap orders waiting epoch and scheduled jobs by their time.
type timedHeap []*job

func (h timedHeap) Len() int { return len(h) }
func (h timedHeap) Less(a, b int) bool {
	return h[a].when < h[b].when || h[a].when == h[b].when && h[a].id < h[b].id
}
func (h timedHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].heapi, h[b].heapi = int32(a), int32(b)
}
func (h *timedHeap) Push(x any) {
	j := x.(*job)
	j.heapi = int32(len(*h))
	*h = append(*h, j)
}
func (h *timedHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.heapi = -1
	return j
}

// armTimer makes the one timer fire at the earliest waiting job's time.
func (s *Server) armTimer() {
	if s.closed {
		return
	}
	if len(s.timed) == 0 {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		return
	}
	at := s.timed[0].when
	if s.timer != nil && s.timerAt == at {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	d := time.Unix(at, 0).Sub(s.clock.Now())
	s.timerAt = at
	s.timer = s.clock.AfterFunc(max(d, 0), s.fireTimed)
}
