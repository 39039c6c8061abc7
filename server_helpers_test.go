package gearman_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/srvhook"
)

// srvStart serves s on a loopback port and returns its address; the
// cleanup closes it and checks that Serve returned ErrServerClosed.
func srvStart(t testing.TB, s *gearman.Server) string {
	t.Helper()
	if s.HandlePrefix == "" {
		s.HandlePrefix = "H:test"
	}
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
			if !errors.Is(err, gearman.ErrServerClosed) {
				t.Errorf("Serve returned %v; want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return l.Addr().String()
}

const quiet = 150 * time.Millisecond // how long "nothing arrives" is watched

// srvT0 is the fake clocks' start.
var srvT0 = time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)

// srvFakeClock gives s a fake clock starting at start.
func srvFakeClock(s *gearman.Server, start time.Time) *clock.Fake {
	c := clock.NewFake(start)
	srvhook.SetClock(s, c)
	return c
}
