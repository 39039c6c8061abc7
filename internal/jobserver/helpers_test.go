package jobserver_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// The engine's behaviour as its peers see it: these tests talk the
// protocol to a jobserver.Server over TCP with wiretest's scripted peers.
// The public gearman.Server, a facade that copies its configuration to
// jobserver.Config (TestServerConfigCopied), is tested in the root package.

const quiet = 150 * time.Millisecond // how long "nothing arrives" is watched

// start serves a jobserver.New(cfg) on a free loopback port until the test
// ends, and returns its address. Handles are "H:test:N" unless cfg says.
func start(t testing.TB, cfg jobserver.Config) string {
	t.Helper()
	_, addr := startServer(t, cfg)
	return addr
}

// startServer is start that returns the server too.
func startServer(t testing.TB, cfg jobserver.Config) (*jobserver.Server, string) {
	t.Helper()
	if cfg.HandlePrefix == "" {
		cfg.HandlePrefix = "H:test"
	}
	s := jobserver.New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, jobserver.ErrClosed) {
				t.Errorf("Serve returned %v; want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s, l.Addr().String()
}
