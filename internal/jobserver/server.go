// Package jobserver is the engine of the Gearman job server that package
// gearman exposes as gearman.Server.
//
// # Design
//
// All job, function and worker state lives in one [Server] guarded by one
// mutex, held for the handling of a single request (a few microseconds).
// Each connection has a reader (the goroutine of [Server.ServeConn]) that
// decodes a request and handles it under the mutex, and a writer goroutine
// that sends the connection's queued replies, many packets per write call.
// Handling a request only appends to the outbound buffers of the connections
// concerned; it never waits on a socket, so one slow peer never stalls
// another. A connection's unsent output is bounded by [Config.MaxOutbound],
// checked before a packet is queued: a packet that would pass it (for a
// peer that stopped reading) closes the connection instead. Large data is
// queued by reference, not copied (payloads; results that are very large
// or go to a connection that is behind: see toClientsFrom), and the buffer
// small packets are copied into moves aside at 1 MiB, so neither memory nor
// the time spent under the mutex grows with a backlog.
//
// A peer that starts a packet must finish it within [Config.PacketTimeout]
// (a large one may take longer while each MiB comes in time), and a TLS
// peer its handshake within [Config.HandshakeTimeout]; a connection idle
// between packets is never cut.
//
// Dispatch never scans jobs: every function keeps one FIFO list per
// priority, a worker's grab looks at the heads of the lists of its own
// functions, and a new job wakes one sleeping worker that can run it.
// A worker woken that has not grabbed within half a second (wakeBound,
// wake.go: frozen, hostile, or busy) stops counting as awake, and the next
// sleeper is woken: such a worker delays a job by at most that bound,
// where gearmand, which NOOPs every sleeper, does not delay it at all.
// A unique id is found in one lookup too, under a function (coalescing)
// or under any (GET_STATUS_UNIQUE), in the server's unique index
// (unique.go).
//
// # Memory for large payloads
//
// A packet larger than a connection's read buffer is read into memory of
// its own, made the body's exact size once an eighth of it has come
// (wire.Reader.Keep); a submit's payload stays there as the job's data and
// goes to its worker by reference (conn.sendRef): a sized job is held once.
//
// A streamed payload (stream.go) is held to one credit window per job: the
// client gets credit only as a worker takes the payload. A job that only
// workers without the extension can take is spooled whole instead, in
// chunks, within [Config.MaxSpool] per job and [Config.MaxSpoolTotal]
// across the server; past either it fails at once with the reason.
package jobserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/internal/store"
	"github.com/seed749d6d6d/gearman/wire"
)

// DefaultMaxPacketSize is the largest request body the server accepts by
// default: a 256 MiB payload (a client's default MaxPayload) with room for
// its other arguments.
const DefaultMaxPacketSize = 256<<20 + 64<<10

// Config is the server's configuration; zero fields take the defaults
// [New] documents.
type Config struct {
	HandlePrefix          string      // default "H:" + host name; handles are prefix + ":" + n
	MaxPacketSize         int64       // default DefaultMaxPacketSize
	MaxConnections        int         // 0 = no limit
	MaxOutbound           int64       // per-connection unsent output, written or not; default 2*MaxPacketSize + 16 MiB
	MaxQueue              int         // default maxqueue limit for every priority of a new function; 0 = none
	MaxSpool              int64       // stream payload held whole for a plain worker, per job; default MaxPacketSize - 64 KiB, at least 256 KiB
	MaxSpoolTotal         int64       // such payloads past each job's first window, across the server; default 4*MaxSpool
	MaxFunctionName       int         // longest function name accepted, in bytes; default DefaultMaxFunctionName
	MaxClientID           int         // SET_CLIENT_ID values are cut at this length; default DefaultMaxClientID
	JobRetries            int         // 0 = unlimited; N = fail a job after N lost attempts
	Retry                 RetryPolicy // failed background jobs (failed.go); zero = gone, as in gearmand
	MaxDeadLetters        int         // the dead-letter list's bound; default DefaultMaxDeadLetters
	Exceptions            bool        // OPTION exceptions on for every connection
	EnableShutdownCommand bool        // accept the admin shutdown command
	Version               string      // default "1.1.20-gogearman"
	Verbose               string      // level name for the admin verbose command; default from Logger
	TLSConfig             *tls.Config
	Logger                *slog.Logger // nil = silent
	Clock                 clock.Clock  // nil = the real clock
	Observer              Observer     // nil = none; for gearmantest
	Store                 store.Log    // nil = jobs in memory only; the server closes it

	// Deadlines for peers that start and never finish (deadline.go); < 0 = none.
	HandshakeTimeout time.Duration // a TLS handshake must end within it; default DefaultHandshakeTimeout
	PacketTimeout    time.Duration // a started packet must progress within it; default DefaultPacketTimeout
}

// ErrClosed is returned by Serve after Close or Shutdown, and by the calls
// that change the jobs after Close. It is the root package's
// ErrServerClosed, so that the facade passes the engine's errors on as they
// are.
var ErrClosed = errors.New("gearman: server closed")

// Server is the job server engine. Its methods are safe for concurrent use.
type Server struct {
	cfg             Config
	prefix          string // HandlePrefix + ":"
	clock           clock.Clock
	log             *slog.Logger
	defaultMaxQueue [nPrio]int
	store           store.Log    // nil = memory only
	shared          store.Shared // store, when several servers share it (cluster.go)

	// pending (guarded by mu): the jobs in statePending, whose submits'
	// answers wait for their records (durable.go).
	pending jobList
	// lastPending (guarded by mu): the commit the newest pending job waits
	// for, shared by the jobs of one store batch.
	lastPending *pendingCommit

	wg sync.WaitGroup // every goroutine the server started or is running in

	mu    sync.Mutex
	funcs map[string]*function // guarded by mu
	jobs  map[uint64]*job      // guarded by mu; live jobs by id
	// uniques and sharedUniques (guarded by mu) index the jobs that
	// coalesce by their key (unique.go).
	uniques       map[string]*job
	sharedUniques map[uniqueRef]*job
	nextJob       uint64                    // guarded by mu
	dead          map[uint64]*job           // guarded by mu; dead letters by id (deadletters.go)
	deadq         jobList                   // guarded by mu; the same, oldest first
	conns         map[*conn]struct{}        // guarded by mu
	nextConn      int                       // guarded by mu
	running       int                       // guarded by mu; jobs held by workers
	timed         timedHeap                 // guarded by mu; epoch and scheduled jobs waiting for their time
	timer         timerHandle               // guarded by mu; fires at timed[0]'s time
	timerAt       int64                     // guarded by mu
	listeners     map[net.Listener]struct{} // guarded by mu
	hbuf          []byte                    // guarded by mu; scratch space for handles
	spoolTotal    int64                     // guarded by mu; stream payloads spooled for plain workers (stream.go)
	draining      bool                      // guarded by mu; Shutdown called: no new assignments
	// The wake-ups not yet followed by a grab (wake.go), guarded by mu:
	// the FIFO wakes[wakeHead:] of their records, oldest first, the
	// current ones' number, the last wake-up id, the times' origin, and
	// the timer that expires the head.
	wakes     []wakeRec
	wakeHead  int
	nWoken    int
	wakeSeq   uint64
	wakeBase  time.Time
	wakeTimer timerHandle
	// deferring (guarded by mu): a connection's reader handles a request,
	// and the writers of the other connections it sends to (deferred) are
	// left to it: see deferWake.
	deferring bool
	deferred  []*conn
	drained   chan struct{} // guarded by mu; closed when draining and running == 0
	closed    bool          // guarded by mu
	closedCh  chan struct{}
	storeOnce sync.Once // closes the store once
	stats     *stats    // guarded by mu; nil until EnableMetrics (metrics.go)
}

// New returns a server with cfg's defaults filled in.
func New(cfg Config) *Server {
	if cfg.HandlePrefix == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		cfg.HandlePrefix = "H:" + host
	}
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.MaxSpool <= 0 {
		cfg.MaxSpool = cfg.MaxPacketSize - 64<<10
	}
	cfg.MaxSpool = max(cfg.MaxSpool, wire.StreamWindow)
	if cfg.MaxSpoolTotal <= 0 {
		cfg.MaxSpoolTotal = 4 * cfg.MaxSpool
	}
	if cfg.MaxOutbound <= 0 {
		cfg.MaxOutbound = 2*cfg.MaxPacketSize + 16<<20
	}
	if cfg.MaxFunctionName <= 0 {
		cfg.MaxFunctionName = DefaultMaxFunctionName
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.PacketTimeout == 0 {
		cfg.PacketTimeout = DefaultPacketTimeout
	}
	if cfg.MaxClientID <= 0 {
		cfg.MaxClientID = DefaultMaxClientID
	}
	if cfg.Version == "" {
		cfg.Version = "1.1.20-gogearman"
	}
	if cfg.MaxDeadLetters <= 0 {
		cfg.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(discardHandler{})
	}
	if cfg.Verbose == "" {
		cfg.Verbose = levelName(log)
	}
	s := &Server{
		cfg:           cfg,
		prefix:        cfg.HandlePrefix + ":",
		clock:         cfg.Clock,
		log:           log,
		funcs:         make(map[string]*function),
		jobs:          make(map[uint64]*job),
		uniques:       make(map[string]*job),
		sharedUniques: make(map[uniqueRef]*job),
		conns:         make(map[*conn]struct{}),
		nextConn:      32,
		listeners:     make(map[net.Listener]struct{}),
		closedCh:      make(chan struct{}),
	}
	if cfg.MaxQueue > 0 {
		s.defaultMaxQueue = [nPrio]int{cfg.MaxQueue, cfg.MaxQueue, cfg.MaxQueue}
	}
	if cfg.Store != nil {
		s.store = cfg.Store
		s.shared, _ = cfg.Store.(store.Shared)
		if dl, ok := cfg.Store.(store.DeadLetters); ok {
			dl.LimitDead(cfg.MaxDeadLetters)
		}
		s.mu.Lock()
		s.replay()
		s.mu.Unlock()
		s.store.Start(s)
		if s.shared != nil {
			s.wg.Add(1)
			go s.sweep()
		}
	}
	return s
}

// Serve accepts connections on l until Close or Shutdown, then returns
// ErrClosed. Other accept errors end it and are returned.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logWarn("accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.closedCh:
				}
				continue
			}
			return err
		}
		backoff = 0
		if s.cfg.TLSConfig != nil {
			nc = tls.Server(nc, s.cfg.TLSConfig)
		}
		if c := s.admit(nc); c != nil {
			go s.serveAdmitted(c)
		}
	}
}

// isTemporary reports whether an accept error is worth retrying (such as
// running out of file descriptors), as net/http does.
func isTemporary(err error) bool {
	type temporary interface{ Temporary() bool }
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

// isClosing reports whether Close or Shutdown has been called.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || s.draining
}

// ServeConn serves one connection until it ends, and closes it. After Close
// it closes nc at once.
func (s *Server) ServeConn(nc net.Conn) {
	if c := s.admit(nc); c != nil {
		s.serveAdmitted(c)
	}
}

// admit registers nc, or closes it and returns nil when the server is
// closed or full.
func (s *Server) admit(nc net.Conn) *conn {
	s.mu.Lock()
	if s.closed || (s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections) {
		full := !s.closed
		s.mu.Unlock()
		if full {
			s.logWarn("connection refused: MaxConnections reached", "addr", nc.RemoteAddr())
		}
		nc.Close()
		return nil
	}
	s.nextConn++
	c := &conn{
		s: s, nc: nc, id: s.nextConn, ip: peerIP(nc), clientID: "-",
		exceptions: s.cfg.Exceptions,
		wake:       make(chan struct{}, 1),
		acksSent:   make(chan struct{}, 1),
		writerEnd:  make(chan struct{}),
		grabType:   wire.GrabJob,
	}
	if nonblock.Plain(nc) {
		c.raw, c.rawIn = nonblock.NewWriter(nc), nonblock.NewReader(nc)
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.changed()
	s.mu.Unlock()
	return c
}

// serveAdmitted serves a connection that admit registered.
func (s *Server) serveAdmitted(c *conn) {
	defer s.wg.Done()
	s.logDebug("connection opened", "conn", c.id, "addr", c.ip)
	s.serve(c)
	s.changed()
	s.logDebug("connection closed", "conn", c.id, "addr", c.ip)
}

// Close closes every listener and connection at once and returns when every
// goroutine of the server has ended, then closes the store, if any, after
// writing its queued records; it returns the store's error. Jobs in memory
// only are lost.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closedCh)
		for l := range s.listeners {
			l.Close()
		}
		for c := range s.conns {
			c.nc.SetDeadline(time.Now())
			c.nc.Close()
		}
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		if s.wakeTimer != nil {
			s.wakeTimer.Stop()
			s.wakeTimer = nil
		}
		for _, j := range s.jobs {
			if j.timer != nil {
				j.timer.h.Stop()
				j.timer = nil
			}
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	var err error
	s.storeOnce.Do(func() {
		if s.store != nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeCloseTimeout)
			defer cancel()
			err = s.store.Close(ctx)
		}
	})
	return err
}

// storeCloseTimeout bounds the writing of the store's last records at Close.
const storeCloseTimeout = 10 * time.Second

// Shutdown closes the listeners, stops handing out jobs, waits until no job
// is running or ctx ends, then closes like Close. It returns ctx's error if
// ctx ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining && !s.closed {
		s.draining = true
		s.drained = make(chan struct{})
		for l := range s.listeners {
			l.Close()
		}
		if s.shared != nil {
			// Held jobs not yet running are for other servers now.
			s.giveBack(s.heldQueued(func(j *job) bool { return len(j.clients) == 0 }))
		}
		s.checkDrained()
	}
	drained := s.drained
	s.mu.Unlock()
	var err error
	if drained != nil {
		select {
		case <-drained:
			s.flushAll(ctx)
		case <-ctx.Done():
			err = ctx.Err()
		case <-s.closedCh:
		}
	}
	s.Close()
	return err
}

// flushAll lets every connection's writer send what is queued (the last
// results), until ctx ends or a few seconds pass.
func (s *Server) flushAll(ctx context.Context) {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	limit := time.NewTimer(5 * time.Second)
	defer limit.Stop()
	for _, c := range cs {
		c.endOutput()
	}
	for _, c := range cs {
		select {
		case <-c.writerEnd:
		case <-ctx.Done():
			return
		case <-limit.C:
			return
		}
	}
}

// checkDrained closes drained once a draining server runs no job.
func (s *Server) checkDrained() {
	if s.draining && s.running == 0 && s.drained != nil {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// Addrs returns the addresses of the listeners being served.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Closing reports whether Close or Shutdown has been called.
func (s *Server) Closing() bool { return s.isClosing() }
