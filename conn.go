package gearman

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/internal/nonblock"
	"github.com/seed749d6d6d/gearman/wire"
)

// Options configures a [Conn]. A nil *Options, and every zero field, means
// the documented default. Options must not be modified after use.
type Options struct {
	// DialContext dials the job server. Default: a net.Dialer. A plain
	// *net.TCPConn or *net.UnixConn it returns must stay in the
	// non-blocking mode package net put it in (see [Conn]): taking its file
	// descriptor with File and Fd would take it out.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig, when set, wraps the connection in TLS.
	TLSConfig *tls.Config
	// ClientID is sent with SET_CLIENT_ID on connect; servers show it in
	// their "workers" list. One with a control character (see
	// [wire.ValidClientID]) makes Dial and NewPool fail with a
	// [*NameError]. Default: none.
	ClientID string
	// TaskBuffer is the size of each task's receive buffer: the result of a
	// client task, the payload of a worker's. Default: 256 KiB.
	TaskBuffer int
	// MaxPayload bounds the payload a client task accepts from Write, and
	// the warning, exception and echo data the connection holds in memory.
	// Default: 256 MiB.
	MaxPayload int64
	// MaxJobs is the number of jobs this connection's worker runs at once.
	// Default: 1.
	MaxJobs int
	// SendExceptions makes a worker report a failed job with WORK_EXCEPTION
	// alone where the server agreed to exceptions. By default it sends
	// WORK_WARNING (the message) then WORK_FAIL, which every client
	// understands and this package's clients read as a [*JobException]:
	// gearmand 1.1 forwards an exception to clients that did not ask for
	// exceptions as a WORK_FAIL with a stray NUL byte, on which libgearman
	// clients (the gearman tool, PHP) wait forever. The message of a job
	// failed by default so also reaches its client's [Task.Warnings].
	SendExceptions bool
	// Streaming negotiates streaming mode (OPTION_REQ streaming), with the
	// abraxas server's semantics: the server fails a job whose streaming
	// worker disconnects instead of running it again (its clients would
	// see its WORK_DATA twice), and refuses a foreground job with a unique
	// id submitted on a streaming connection. Dial fails with an error
	// wrapping [ErrNotSupported] when the server does not know the
	// option, as gearmand does not. A task's payload then streams as it is
	// written while its result comes back: write the payload and read the
	// result at once, as a task whose result outgrows its window blocks
	// its payload's Write until the task's context ends. See the package
	// doc, "Streaming".
	Streaming bool
	// PreferStreaming negotiates streaming mode like Streaming, but a server
	// that does not know the option leaves the connection in plain mode
	// instead of failing the dial: for programs, like the gearman tool, that
	// stream where they can and work everywhere.
	PreferStreaming bool
	// Logger receives the connection's diagnostics. Default: none.
	Logger *slog.Logger
	// Trace, when set, sees every packet the connection sends and
	// receives, and those it did not expect (see [PacketTrace]): the
	// gearman tool's -v -v dumps traffic with it. Default: none, which
	// costs nothing.
	Trace *PacketTrace
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.DialContext == nil {
		var nd net.Dialer
		d.DialContext = nd.DialContext
	}
	if d.TaskBuffer <= 0 {
		d.TaskBuffer = 256 << 10
	}
	if d.MaxPayload <= 0 {
		d.MaxPayload = 256 << 20
	}
	if d.MaxJobs <= 0 {
		d.MaxJobs = 1
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// Conn is a connection to one job server, on which a program submits jobs
// and serves them.
//
// A Conn is safe for concurrent use by any number of goroutines, its tasks
// and handlers included. A call on it waits only for its own request, its
// context or the connection's end, never for another caller or a running
// handler, and a connection that nobody waits on still sees the server go
// away within 40 milliseconds.
//
// On a plain *net.TCPConn or *net.UnixConn (not a wrapper of one) found in
// the non-blocking mode package net puts it in, the connection reads and
// writes through the socket's file descriptor: the same waits and deadlines
// as the net.Conn's Read and Write, with cheaper system calls. Such a socket
// must stay non-blocking (see [Options.DialContext]).
type Conn struct {
	// Who may touch what: nc, addr and opts are set once; out is the
	// writers' (outQueue); mu guards the fields below it and those that
	// rd, cl and w mark as guarded by Conn.mu; rd's reader and read-loop
	// fields belong to whichever goroutine holds the reading (reading.go).
	nc   net.Conn
	addr string
	opts Options
	out  *outQueue

	mu       sync.Mutex   // guards what follows
	pending  []*request   // requests awaiting a reply, in order
	err      error        // why the connection ended
	writeErr error        // a write failed: the connection is ending ([Conn.writeFailed])
	linger   *time.Timer  // ends the connection after a write error, unless its reader does first
	neg      negotiated   // what the server agreed to
	cl       clientState  // the client side
	w        workerState  // the worker side
	admin    connAdmin    // withdraws jobs past their assign timeout
	starts   startNotices // whether the server tells when jobs start (assigned.go)
	rd       reading      // who reads the socket

	broadcastee *broadcastee // see HandleBroadcasts; guarded by mu

	baseCtx    context.Context // handlers' parent; cancelled by Close
	cancelBase context.CancelFunc
	loops      sync.WaitGroup // the read loop (whichever goroutine runs it) and the write loop
	stop       chan struct{}  // closed by Close to stop the write loop
	writerDone chan struct{}  // closed when the write loop has returned
	done       chan struct{}  // closed when the connection has ended
	closeOnce  sync.Once
}

// negotiated is what the server agreed to (OPTION_RES). Guarded by Conn.mu.
type negotiated struct {
	exceptions bool // the server agreed to send WORK_EXCEPTION
	streaming  bool // the server agreed to streaming mode
	chunks     bool // the server agreed to the streaming extension
}

// Dial connects to the job server at addr and negotiates the connection
// (exceptions, streaming when asked for, and the client id if set). ctx
// bounds the dial and the negotiation only.
func Dial(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	o := opts.withDefaults()
	if err := checkClientID(o.ClientID); err != nil {
		return nil, err // before dialling
	}
	nc, err := dialNet(ctx, addr, &o)
	if err != nil {
		return nil, err
	}
	return newConn(ctx, nc, addr, o, nil)
}

// dialNet dials addr with o's dialer, and TLS when configured.
func dialNet(ctx context.Context, addr string, o *Options) (net.Conn, error) {
	nc, err := o.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gearman: dial %s: %w", addr, err)
	}
	if o.TLSConfig != nil {
		cfg := o.TLSConfig
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		nc = tls.Client(nc, cfg)
	}
	return nc, nil
}

// NewConn runs the Gearman protocol on an established connection, such as one
// from an in-memory transport, and negotiates it as [Dial] does. The Conn owns
// nc from then on.
//
// What needs a second connection to the same server dials
// nc.RemoteAddr() with opts' DialContext and TLSConfig: the admin
// connection that withdraws jobs past their [Job.AssignTimeout], and
// [Conn.Broadcast]. Give a DialContext that reaches the server that way
// (a TLS connection made by hand needs TLSConfig too); otherwise those
// withdrawals fail (the [TimeoutError] says the job was not withdrawn)
// and broadcasts find no server.
func NewConn(ctx context.Context, nc net.Conn, opts *Options) (*Conn, error) {
	return newConn(ctx, nc, nc.RemoteAddr().String(), opts.withDefaults(), nil)
}

// newConn starts the protocol on nc; budget, when not nil, is a job limit
// shared with other connections (a pool's).
func newConn(ctx context.Context, nc net.Conn, addr string, o Options, budget *jobBudget) (*Conn, error) {
	c := &Conn{
		nc:         nc,
		addr:       addr,
		opts:       o,
		out:        newOutQueue(nc),
		cl:         clientState{routes: make(map[string]*route), streams: make(map[string]*Task)},
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.rd.src = connReader{nc: nc}
	c.rd.spare = make(chan handlerRun)
	c.rd.parkCheck = parkCheck
	c.w.streams = make(map[string]*Task)
	c.w.jobs = make(map[*Task]struct{})
	c.w.funcs = make(map[string]*register)
	c.w.budget = budget
	// A caller may read only where it can first see without waiting what
	// came while nobody read, and where a read deadline can stop it when
	// its context ends ([Conn.readFor]).
	if plainSocket(nc) {
		c.rd.src.try = nonblock.NewReader(nc)
		c.rd.src.raw = c.rd.src.try != nil && socketType(nc)
	}
	c.rd.pollable = c.rd.src.try != nil && nc.SetReadDeadline(time.Time{}) == nil
	c.rd.r = wire.NewReader(&c.rd.src)
	c.rd.r.AllowUnknown(true) // reported and skipped: see dispatch
	if o.Trace != nil && o.Trace.Sent != nil {
		c.out.trace, c.out.traceAddr = o.Trace, addr
	}
	c.rd.r.SetMaxPacketSize(1 << 20)
	c.w.grab = wire.GrabJobUniq
	c.baseCtx, c.cancelBase = context.WithCancel(context.Background())
	c.loops.Add(2)
	c.rd.goroutines.Add(1)
	go c.serve(handlerRun{}) // the read loop
	go c.writeLoop()
	if o.ClientID != "" {
		if err := c.SetClientID(o.ClientID); err != nil {
			c.Close()
			return nil, err
		}
	}
	err := c.Option(ctx, wire.OptionExceptions)
	var se *ServerError
	if err != nil && !errors.As(err, &se) {
		c.Close()
		return nil, fmt.Errorf("gearman: negotiate with %s: %w", addr, err)
	}
	if o.Streaming || o.PreferStreaming {
		err := c.negotiateStreaming(ctx)
		switch {
		case err == nil:
		case !o.Streaming && errors.Is(err, ErrNotSupported):
			c.opts.Logger.Info("gearman: server has no streaming mode; going on without", "server", addr)
		default:
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// negotiateStreaming turns streaming mode on, or says clearly why not.
func (c *Conn) negotiateStreaming(ctx context.Context) error {
	err := c.Option(ctx, wire.OptionStreaming)
	if errors.Is(err, ErrNotSupported) {
		return fmt.Errorf("gearman: %s does not support streaming mode: %w", c.addr, err)
	}
	if err != nil {
		return fmt.Errorf("gearman: negotiate streaming with %s: %w", c.addr, err)
	}
	err = c.Option(ctx, wire.OptionStreamChunks)
	if errors.Is(err, ErrNotSupported) {
		c.opts.Logger.Info("gearman: server has streaming mode without the chunked-payload extension", "server", c.addr, "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("gearman: negotiate streaming with %s: %w", c.addr, err)
	}
	return nil
}

// Addr returns the address the connection was dialled with.
func (c *Conn) Addr() string { return c.addr }

// Done returns a channel closed when the connection has ended, by Close or
// by failure; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up, then why it ended: an error
// wrapping [ErrClosed] after Close, or [ErrConnLost].
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Exceptions reports whether the server agreed to send job exceptions
// (OPTION_REQ exceptions).
func (c *Conn) Exceptions() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg.exceptions
}

// Shutdown closes the connection gracefully: it stops taking jobs, waits
// until the running ones have ended and what they sent has been written,
// then closes. When ctx ends first it closes at once and returns ctx's error.
func (c *Conn) Shutdown(ctx context.Context) error {
	err := c.StopWork(ctx)
	if err == nil {
		if e := c.flush(); e == nil {
			err = c.out.sync(ctx)
		}
	}
	c.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Streaming reports whether the server agreed to streaming mode
// ([Options.Streaming]).
func (c *Conn) Streaming() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg.streaming
}

// Close closes the connection at once. Client tasks still running end with an
// error wrapping [ErrClosed]; worker handlers' contexts are cancelled, and
// Close waits for them and for the connection's goroutines to return, so a
// handler must return once its context is done, and must not call Close
// itself. While a handler keeps it waiting, Close logs so every 5 seconds.
func (c *Conn) Close() error {
	c.shutdown(fmt.Errorf("gearman: connection to %s: %w", c.addr, ErrClosed))
	c.loops.Wait()
	c.mu.Lock()
	if c.rd.parkTimer != nil {
		c.rd.parkTimer.Stop() // the read loop has ended: no park is left to check
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.rd.goroutines.Wait()
		close(done)
	}()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			c.mu.Lock()
			n := len(c.w.jobs)
			c.mu.Unlock()
			c.opts.Logger.Warn("gearman: Close is waiting for handlers that ignore their context", "server", c.addr, "jobs", n)
		}
	}
}

// shutdown ends the connection with err; the first call wins.
func (c *Conn) shutdown(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		if c.linger != nil {
			c.linger.Stop()
		}
		pending := c.pending
		c.pending = nil
		routes := c.cl.routes
		c.cl.routes = map[string]*route{}
		jobs := make([]*Task, 0, len(c.w.jobs))
		for t := range c.w.jobs {
			jobs = append(jobs, t)
		}
		grabbing := c.w.grabbing
		c.w.grabbing = 0
		streams := c.cl.streams
		c.cl.streams = map[string]*Task{}
		c.unpark() // a reader meets the end, and ends the read loop
		c.mu.Unlock()
		for _, t := range streams {
			t.st.credit.stop(err)
			t.payloadEnded()
		}
		if grabbing > 0 && c.w.budget != nil {
			c.w.budget.release(grabbing)
		}

		close(c.stop)
		c.nc.Close()
		<-c.writerDone // what it wrote is now known: see isWritten
		c.out.fail(err)
		c.cancelBase()
		for _, rq := range pending {
			if rq.task != nil {
				if c.out.isWritten(rq.sent) {
					rq.task.finish(err)
				} else {
					rq.task.finish(&notSubmittedError{err})
				}
			}
			if rq.reply != nil {
				rq.reply <- reply{err: err}
			}
		}
		for _, rt := range routes {
			for _, t := range rt.tasks {
				t.finish(err)
			}
		}
		for _, t := range jobs {
			t.in.close(err)
			if t.ws != nil {
				t.ws.credit.stop(err)
			}
		}
		close(c.done)
	})
}

// Echo sends data to the server (ECHO_REQ) and returns what it echoes back:
// a liveness check.
func (c *Conn) Echo(ctx context.Context, data []byte) ([]byte, error) {
	args, err := c.call(ctx, wire.EchoReq, data)
	if err != nil {
		return nil, err
	}
	return args[0], nil
}

// Option asks the server to turn on a connection option (OPTION_REQ), such
// as "exceptions". A server that does not know it answers with a
// [*ServerError] that also matches [ErrNotSupported].
func (c *Conn) Option(ctx context.Context, name string) error {
	_, err := c.call(ctx, wire.OptionReq, []byte(name))
	var se *ServerError
	if errors.As(err, &se) {
		return fmt.Errorf("gearman: option %q: %w: %w", name, ErrNotSupported, err)
	}
	return err
}

// SetClientID sets the id the server shows for this connection in its
// "workers" list (SET_CLIENT_ID). It does not wait for the server. An id
// with a control character, which would break the admin "workers" list
// (see [wire.ValidClientID]), is refused with a [*NameError], unsent;
// spaces are allowed.
func (c *Conn) SetClientID(id string) error {
	if err := checkClientID(id); err != nil {
		return err
	}
	return c.send(wire.SetClientID, []byte(id))
}
