package gearmantest

import "time"

// CloseClientConnections closes every connection to the server at once, as
// a network failure would: clients, workers (those of [Server.Handle]
// too) and admin connections. The jobs running on a closed worker are
// queued again; clients see gearman.ErrConnLost, and pools reconnect.
// The server goes on accepting connections.
func (s *Server) CloseClientConnections() { s.eng.CloseConns() }

// Refuse makes the server refuse new connections for d of its clock (see
// [Server.FastForward]): an in-memory dial fails, and a TCP connection is
// closed at once. A negative d refuses until the next call of Refuse;
// Refuse(0) accepts again at once. Connections already open are left
// alone: with [Server.CloseClientConnections] it makes the server look
// down.
func (s *Server) Refuse(d time.Duration) {
	now := s.clock.Now()
	s.mu.Lock()
	s.refuseAll = d < 0
	s.refuseTo = now.Add(max(d, 0))
	s.mu.Unlock()
	s.changed()
}

// refused reports whether new connections are refused for now.
func (s *Server) refused() bool {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuseAll || now.Before(s.refuseTo)
}

// Stall stops handing out the jobs of fn: they are queued as usual (see
// [Server.Queued]) but no worker gets them, until [Server.Unstall]. Jobs
// already running go on. With it a test can hold jobs in the queue, or
// test the timeouts of code that submits them.
func (s *Server) Stall(fn string) { s.eng.Stall(fn, true) }

// Unstall hands out the jobs of fn again, waking its workers.
func (s *Server) Unstall(fn string) { s.eng.Stall(fn, false) }

// FastForward moves the server's clock d ahead: epoch and scheduled jobs
// that come due are queued, and CAN_DO_TIMEOUT limits that expire fail
// their jobs, before FastForward returns. It moves only the server's
// clock; the time package, and so the clients, see no change.
//
// The server's clock runs with the time package's (virtual inside a
// testing/synctest bubble), so FastForward is for moving far ahead at once
// (hours until an epoch job), where a bubble's time.Sleep would do too.
func (s *Server) FastForward(d time.Duration) {
	s.clock.advance(d)
	s.changed()
}

// Now returns the time on the server's clock: the time package's plus
// every FastForward so far.
func (s *Server) Now() time.Time { return s.clock.Now() }
