package jobserver_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
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
	return l.Addr().String()
}

// worker connects a worker that registers fns and goes to sleep.
func worker(t *testing.T, addr string, fns ...string) *wiretest.Peer {
	t.Helper()
	w := wiretest.Dial(t, addr)
	for _, f := range fns {
		w.Send(wire.CanDo, f)
	}
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.NoJob)
	w.Send(wire.PreSleep)
	// The server reads each connection on its own goroutine: without
	// this, a worker dialled next could be asleep first.
	waitHandled(w)
	return w
}

// waitHandled makes sure the server has handled everything p sent before.
func waitHandled(p *wiretest.Peer) {
	p.Send(wire.EchoReq, "sync")
	p.Expect(wire.EchoRes, "sync")
}
