package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// TestingM is what [Main] wraps and returns: *testing.M, and what
// goleak.VerifyTestMain takes.
type TestingM interface {
	Run() int
}

// mainUsed reports whether TestMain wrapped the tests with Main, so that
// the shared server is stopped after them.
var mainUsed atomic.Bool

// shared is the test binary's server of [Start], started by the first call.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error // why it did not start; every later Start reports it too
}

// Main wraps the tests of a package so that [Start] starts one server for
// the whole test binary, at its first call, and stops it after the tests:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
//
// or, without goleak, os.Exit(pgtest.Main(m).Run()). The returned Run runs
// m.Run, then stops the server (fast shutdown) and removes its files; when
// that fails it prints why and returns 1 if the tests passed.
func Main(m TestingM) TestingM {
	mainUsed.Store(true)
	return mainRun{m}
}

type mainRun struct{ m TestingM }

func (r mainRun) Run() int {
	code := r.m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop the shared server:", err)
			if code == 0 {
				code = 1
			}
		}
		shared.srv = nil
	}
	return code
}

// Start returns the URL (postgres://...?sslmode=disable) of a fresh, empty
// database for t alone, which is dropped when t ends. The database is on
// the server of $GEARMAN_TEST_POSTGRES ([EnvURL]) when that is set; else on
// a server that this process starts from the installed binaries: one for
// the whole test binary when TestMain wraps the tests with [Main], else one
// for t (as [Own]). Tests that stop or restart PostgreSQL use [Own]. It
// skips t when no PostgreSQL is installed (fails it under CI=true), and
// may be called from parallel tests.
func Start(t testing.TB) string {
	t.Helper()
	if env := os.Getenv(EnvURL); env != "" {
		return newDatabase(t, env, nil)
	}
	if !mainUsed.Load() {
		return Own(t).URL()
	}
	srv, err := sharedServer()
	if err != nil {
		fail(t, err)
	}
	return srv.Database(t)
}

// sharedServer is the binary's shared server, started at the first call.
func sharedServer() (*Server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.srv, shared.err = newServer(ctx, nil)
	}
	return shared.srv, shared.err
}
