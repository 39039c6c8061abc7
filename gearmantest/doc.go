// Package gearmantest runs the job server of package gearman in memory, for
// tests: what net/http/httptest is to HTTP. Code that submits jobs, and
// handlers that serve them, are tested without a gearmand, a port or a
// sleep:
//
//	func TestResize(t *testing.T) {
//		srv := gearmantest.NewServer(t) // closed when the test ends
//		srv.HandleFunc("resize", func(ctx context.Context, img []byte) ([]byte, error) {
//			return []byte("small"), nil // a fake worker
//		})
//		got, err := thumbnails.Make(t.Context(), srv.Pool(nil), "cat.png") // the code under test
//		// ... check got and err, and srv.Submitted(): the jobs it sent
//	}
//
// # The server
//
// [NewServer] runs the real gearman.Server, the one cmd/gearmand serves
// with, on a buffered in-memory transport, and [Server.Pool] hands out
// pools wired to it through the DialContext hook that production code has
// too ([Server.DialContext], [Server.Addr]). [NewTCPServer] serves on a
// loopback port instead, for code that takes an address. [Start] needs no
// Tester, for Example functions; the caller closes it.
//
// A gearman.Conn on the in-memory transport is not a socket, so a
// goroutine of its own always reads it, as for a TLS connection (see
// gearman.Conn); on a TCP socket, a lone Do or Submit caller may read its
// own replies instead. The packets, results and errors are the same
// either way; what differs is which goroutine waits. [NewTCPServer] runs
// the socket path.
//
// # Fakes, inspection and faults
//
// [Server.HandleFunc], [Server.Fake] and [Server.Handle] register workers
// in one line. [Server.Queued], [Server.Funcs], [Server.Workers] and
// [Server.Submitted] read the server's state directly; [Server.WaitFor]
// waits until a condition on it holds, woken by every change, never by
// polling. [Server.CloseClientConnections], [Server.Refuse] and
// [Server.Stall] break things on demand, to test retries and reconnects.
//
// # Time
//
// The in-memory transport blocks only on channels and condition variables,
// so a Server created inside a testing/synctest bubble runs in the
// bubble's virtual time: job timeouts, deadlines and reconnect backoffs
// take no real time. [Server.FastForward] moves the server's clock ahead,
// for epoch and scheduled jobs, as miniredis's FastForward does for TTLs.
//
// # Leaks
//
// Close, which the test's cleanup calls, returns only once every goroutine
// of the server, its workers and the pools it handed out has ended, so
// tests that use it pass go.uber.org/goleak. Register the check before the
// server, so that it runs after the server's Close (a defer would run
// before):
//
//	t.Cleanup(func() { goleak.VerifyNone(t) })
//	srv := gearmantest.NewServer(t)
package gearmantest
