package gearmantest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/srvhook"
)

// Tester is the part of *testing.T that a Server uses, so that other test
// frameworks can use it too. *testing.T and *testing.B implement it.
type Tester interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Context() context.Context
}

// Config configures a Server. A nil *Config means the zero value.
type Config struct {
	// Server is the job server to run, configured as the test needs
	// (JobRetries, MaxQueue, Exceptions ...). Its Addr and TLSConfig are
	// ignored, and it must not have been used yet; the Server closes it.
	// An empty HandlePrefix becomes "H:gearmantest". Default: a zero
	// gearman.Server.
	Server *gearman.Server

	// TCP serves on a loopback port (127.0.0.1:0) instead of in memory,
	// for code that takes an address and dials it itself. Default false.
	TCP bool

	// StoreDir keeps the background jobs in the embedded store in this
	// directory (such as t.TempDir()), as gearman.Server.Store does, unless
	// Server.Store is set already: a test can Close the Server and start
	// another on the same directory to see what survives a restart.
	// Default "": jobs in memory only.
	StoreDir string
}

// Server is the real job server of package gearman, run for one test on
// an in-memory transport (or a loopback port), with ways to look inside
// it, fake its workers, break its connections and move its clock.
//
// The transport buffers in both directions and blocks only on channels and
// condition variables, so a Server works inside a testing/synctest bubble,
// where time is virtual. Create it inside the bubble.
//
// Pools and connections handed out by a Server are closed by its Close.
// A Server is safe for concurrent use.
type Server struct {
	srv   *gearman.Server
	eng   *jobserver.Server
	clock *offsetClock
	t     Tester // nil for Start
	addr  string
	ln    net.Listener // the in-memory listener, or the TCP one
	mem   *listener    // the in-memory listener, nil for TCP
	serve chan error   // Serve's result

	// Closed at Close; ctx is cancelled then too.
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	changes   chan struct{}   // guarded by mu; closed and replaced at each change that follows a WaitFor
	watched   bool            // guarded by mu; a WaitFor took changes since it was made
	submitted []gearman.Job   // guarded by mu
	refuseAll bool            // guarded by mu
	refuseTo  time.Time       // guarded by mu; in the server's clock
	pools     []*gearman.Pool // guarded by mu; closed at Close
	conns     []*gearman.Conn // guarded by mu; closed at Close
	fakes     *gearman.Pool   // guarded by mu; the pool of Handle's workers
	closed    bool            // guarded by mu
	closeOnce sync.Once
}

// serverSeq numbers the in-memory servers, for their addresses.
var serverSeq atomic.Int64

// NewServer starts a job server on an in-memory transport and closes it
// when the test ends (t.Cleanup).
func NewServer(t Tester) *Server {
	t.Helper()
	return NewServerWith(t, nil)
}

// NewTCPServer starts a job server on a loopback port (see [Server.Addr])
// and closes it when the test ends.
func NewTCPServer(t Tester) *Server {
	t.Helper()
	return NewServerWith(t, &Config{TCP: true})
}

// Start starts a job server on an in-memory transport, for programs
// without a Tester such as Example functions. The caller must call
// [Server.Close]. Failures panic.
func Start() *Server { return NewServerWith(nil, nil) }

// NewServerWith starts a job server configured by cfg. With a non-nil t it
// reports failures with t.Fatalf and closes the server when the test ends;
// with a nil t, as [Start], failures panic and the caller closes it.
func NewServerWith(t Tester, cfg *Config) *Server {
	if t != nil {
		t.Helper()
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Server == nil {
		c.Server = &gearman.Server{}
	}
	if c.Server.HandlePrefix == "" {
		c.Server.HandlePrefix = "H:gearmantest"
	}
	if c.StoreDir != "" && c.Server.Store == nil {
		st, err := gearman.OpenStore(context.Background(), "file:"+c.StoreDir, nil)
		if err != nil {
			if t != nil {
				t.Fatalf("gearmantest: %v", err)
			}
			panic(fmt.Sprintf("gearmantest: %v", err))
		}
		c.Server.Store = st
	}
	s := &Server{
		srv:     c.Server,
		t:       t,
		serve:   make(chan error, 1),
		done:    make(chan struct{}),
		changes: make(chan struct{}),
	}
	base := context.Background()
	if t != nil {
		base = context.WithoutCancel(t.Context()) // keep its values, such as a synctest bubble's
	}
	s.ctx, s.cancel = context.WithCancel(base)
	s.clock = newOffsetClock(s.changed)
	srvhook.SetClock(s.srv, s.clock)
	srvhook.SetObserver(s.srv, (*observer)(s))
	s.eng = srvhook.Engine(s.srv)
	if c.TCP {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.cancel()
			s.fatalf("gearmantest: %v", err)
			return nil
		}
		s.ln = &tcpListener{Listener: l, s: s}
		s.addr = l.Addr().String()
	} else {
		s.addr = fmt.Sprintf("gearmantest-%d:4730", serverSeq.Add(1))
		s.mem = newListener(s.addr, s.refused)
		s.ln = s.mem
	}
	go func() { s.serve <- s.srv.Serve(s.ln) }()
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// fatalf reports a failure to the Tester, or panics without one.
func (s *Server) fatalf(format string, args ...any) {
	if s.t == nil {
		panic(fmt.Sprintf(format, args...))
	}
	s.t.Helper()
	s.t.Fatalf(format, args...)
}

// Server returns the real job server being run, for its configuration and
// for its methods (such as Shutdown, to test a graceful stop).
func (s *Server) Server() *gearman.Server { return s.srv }

// Addr returns the server's address: for the in-memory transport a name
// such as "gearmantest-1:4730" that only [Server.DialContext] can dial,
// for a TCP server "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// DialContext connects to the server: it has the signature of the
// DialContext hook of gearman.Options and gearman.AdminOptions, and
// accepts only the server's own address.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != s.addr {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("gearmantest: unknown address %q; want %q", addr, s.addr)}
	}
	if s.mem == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return s.mem.dial(ctx)
}

// Pool returns a pool connected to the server, configured by opts (nil
// means defaults) with its DialContext set to [Server.DialContext]. The
// pool connects in the background; [Server.Close] closes it. With a pool, code
// under test that takes a *gearman.Pool runs against the server.
func (s *Server) Pool(opts *gearman.PoolOptions) *gearman.Pool {
	if s.t != nil {
		s.t.Helper()
	}
	var o gearman.PoolOptions
	if opts != nil {
		o = *opts
	}
	o.DialContext = s.DialContext
	p, err := gearman.NewPool([]string{s.addr}, &o)
	if err != nil {
		s.fatalf("gearmantest: %v", err)
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.Close()
		s.fatalf("gearmantest: Pool after Close")
		return nil
	}
	s.pools = append(s.pools, p)
	s.mu.Unlock()
	return p
}

// Dial returns a connection to the server with default options;
// [Server.Close] closes it. For options, call gearman.Dial with [Server.Addr] and
// [Server.DialContext] as Options.DialContext.
func (s *Server) Dial(ctx context.Context) (*gearman.Conn, error) {
	c, err := gearman.Dial(ctx, s.addr, &gearman.Options{DialContext: s.DialContext})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, gearman.ErrServerClosed
	}
	s.conns = append(s.conns, c)
	return c, nil
}

// Close closes the pools and connections handed out, then the server,
// and returns once every goroutine they started has ended. It is
// idempotent. A Close that takes more than five seconds (a handler that
// ignores its context) is reported with Logf.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		pools, conns := s.pools, s.conns
		if s.fakes != nil {
			pools = append(pools, s.fakes)
		}
		s.pools, s.conns, s.fakes = nil, nil, nil
		close(s.done)
		s.mu.Unlock()
		s.cancel()

		var step atomic.Value
		step.Store("the pools and connections it handed out (a handler that ignores its context?)")
		slow := time.AfterFunc(5*time.Second, func() {
			msg := fmt.Sprintf("gearmantest: Close is still waiting for %s", step.Load())
			if s.t != nil {
				s.t.Logf("%s", msg)
			} else {
				fmt.Fprintln(os.Stderr, msg)
			}
		})
		defer slow.Stop()
		var wg sync.WaitGroup
		for _, p := range pools {
			wg.Go(func() { p.Close() })
		}
		for _, c := range conns {
			wg.Go(func() { c.Close() })
		}
		wg.Wait()
		step.Store("the job server")
		s.srv.Close()
		if err := <-s.serve; err != nil && !errors.Is(err, gearman.ErrServerClosed) && s.t != nil {
			s.t.Logf("gearmantest: Serve: %v", err)
		}
		s.clock.close()
	})
}

// tcpListener refuses connections (closes them at once) while the server
// refuses, as the in-memory listener fails dials.
type tcpListener struct {
	net.Listener
	s *Server
}

func (l *tcpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.s.refused() {
			return c, err
		}
		c.Close()
	}
}
