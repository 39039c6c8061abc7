package gearman_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/wire"
)

// sentCounter counts what a connection sends: packets by type, and the
// OPTION_REQ names.
type sentCounter struct {
	mu      sync.Mutex
	types   map[wire.Type]int
	options map[string]int
}

func newSentCounter() *sentCounter {
	return &sentCounter{types: map[wire.Type]int{}, options: map[string]int{}}
}

func (s *sentCounter) trace() *gearman.PacketTrace {
	return &gearman.PacketTrace{Data: true, Sent: func(p gearman.PacketInfo) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.types[p.Type]++
		if p.Type == wire.OptionReq {
			name := p.Data
			if len(p.Args) > 0 {
				name = p.Args[0]
			}
			s.options[string(name)]++
		}
	}}
}

func (s *sentCounter) counts() (statuses, assignedOpts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.types[wire.GetStatus], s.options[wire.OptionAssigned]
}

// hangingWorker registers fn on a worker connection whose handler hangs
// until the test ends, recording when each job reached it.
func hangingWorker(t *testing.T, c *gearman.Conn, fn string) <-chan time.Time {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	started := make(chan time.Time, 16)
	c.Register(fn, gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		started <- time.Now()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}), nil)
	return started
}

// runTimeoutQueued submits two jobs with a RunTimeout on c while no worker
// serves them, waits past that timeout (queued, they must not fail), then
// brings a silent worker w (MaxJobs 2): each job reaches the worker, and
// fails with ErrRunTimeout at least its RunTimeout after the worker
// registered. (Not after the handler began: the server tells the client of
// the assignment as it sends it to the worker, so the client's timer may
// start a little before the handler does.)
func runTimeoutQueued(t *testing.T, c, w *gearman.Conn) {
	ctx := testCtx(t)
	const limit = 200 * time.Millisecond
	type result struct {
		err error
		at  time.Time
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			_, err := c.Do(ctx, gearman.Job{Func: "silent", RunTimeout: limit})
			results <- result{err, time.Now()}
		}()
	}
	select {
	case r := <-results:
		t.Fatalf("a queued job ended: %v", r.err)
	case <-time.After(2 * limit):
	}
	registered := time.Now()
	started := hangingWorker(t, w, "silent")
	for range 2 {
		r := <-results
		<-started
		var te *gearman.TimeoutError
		if !errors.Is(r.err, gearman.ErrRunTimeout) || !errors.As(r.err, &te) || te.Assign {
			t.Fatalf("Do: %v; want ErrRunTimeout", r.err)
		}
		if d := r.at.Sub(registered); d < limit {
			t.Errorf("failed %v after its worker registered; want at least %v", d, limit)
		}
	}
}

// On this package's server (TCP and in memory) the run timer starts at
// the assignment, which the server tells (OPTION_REQ job-assigned, asked
// once per connection): no GET_STATUS is sent at all.
func TestRunTimeoutAssignedNotice(t *testing.T) {
	servers := map[string]func(t *testing.T) (string, *gearman.Options){
		"ours": func(t *testing.T) (string, *gearman.Options) {
			return srvStart(t, &gearman.Server{}), &gearman.Options{}
		},
		"gearmantest": func(t *testing.T) (string, *gearman.Options) {
			srv := gearmantest.NewServer(t)
			return srv.Addr(), &gearman.Options{DialContext: srv.DialContext}
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			addr, opts := start(t)
			sent := newSentCounter()
			copts := *opts
			copts.Trace = sent.trace()
			wopts := *opts
			wopts.MaxJobs = 2
			c, w := dial(t, addr, &copts), dial(t, addr, &wopts)
			runTimeoutQueued(t, c, w)
			if statuses, asked := sent.counts(); statuses != 0 || asked != 1 {
				t.Errorf("sent %d GET_STATUS and %d OPTION_REQ %s; want none and one", statuses, asked, wire.OptionAssigned)
			}
		})
	}
}

// On gearmand, which refuses the option, the client asks once per
// connection, remembers, and falls back to polling GET_STATUS.
func TestRunTimeoutAssignedFallback(t *testing.T) {
	addr := peertest.Gearmand(t)
	sent := newSentCounter()
	c, w := dial(t, addr, &gearman.Options{Trace: sent.trace()}), dial(t, addr, &gearman.Options{MaxJobs: 2})
	runTimeoutQueued(t, c, w)
	if statuses, asked := sent.counts(); statuses == 0 || asked != 1 {
		t.Errorf("sent %d GET_STATUS and %d OPTION_REQ %s; want some and one", statuses, asked, wire.OptionAssigned)
	}
}
