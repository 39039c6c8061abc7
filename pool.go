package gearman

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Strategy chooses the server a pool submits a job to.
type Strategy int

// Strategies.
const (
	// RoundRobin submits to the live servers in turn.
	RoundRobin Strategy = iota
	// Sequence submits to the first live server in the order given, and to
	// the next ones only when it is down or refuses the job.
	Sequence
)

// PoolOptions configures a [Pool]. A nil *PoolOptions, and every zero field,
// means the documented default. PoolOptions must not be modified after use.
type PoolOptions struct {
	// Options configures each connection. In a pool, MaxJobs is the number
	// of jobs the pool's workers run at once across all servers (default 1),
	// not per connection; handlers that wait for sub-jobs the same pool
	// serves can hold them all (see [Pool]).
	Options
	// Strategy chooses the server of each submit. Default: RoundRobin.
	Strategy Strategy
	// MinBackoff and MaxBackoff bound the wait between redials of a server
	// that is down: it starts at MinBackoff, doubles with each failure up to
	// MaxBackoff, with random jitter, and starts again after a connection
	// succeeds. Defaults: 50ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds each dial and handshake. Default: 10s.
	DialTimeout time.Duration
	// ReservedHigh keeps that many of the MaxJobs slots for high-priority
	// jobs: normal and low ones run in at most MaxJobs-ReservedHigh slots
	// at once, so a flood of them never takes every slot, while high ones
	// may take them all. Once a function is registered, the pool also
	// runs a second connection to each server, which takes only
	// high-priority jobs (and is not used for submits): this package's
	// server knows how (OPTION_REQ grab-high, see wire.OptionGrabHigh).
	// gearmand does not, and GRAB_JOB cannot ask for a priority, so there
	// the pool runs at most MaxJobs-ReservedHigh jobs and the reserved
	// slots stay empty (it logs so once per server). It must be smaller
	// than MaxJobs. Default 0: no reservation.
	ReservedHigh int
}

// EventKind says what happened to one of a pool's connections.
type EventKind int

// Event kinds.
const (
	// Up: a connection to the server is ready and its functions registered.
	Up EventKind = iota + 1
	// Down: the connection ended; the pool redials.
	Down
	// DialFailed: a dial or handshake failed; the pool tries again later.
	DialFailed
)

// String returns "up", "down" or "dial failed".
func (k EventKind) String() string {
	switch k {
	case Up:
		return "up"
	case Down:
		return "down"
	case DialFailed:
		return "dial failed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports a change of a pool's connection to one server.
type Event struct {
	Addr string
	Kind EventKind
	Err  error // why, for Down and DialFailed
	Time time.Time
}

// Pool is a set of connections to job servers: the handle most programs
// hold. It submits jobs to the servers that are up (round-robin by default),
// registers worker functions on every server, again after every reconnect,
// and redials lost servers with backoff and jitter. One pool can submit jobs
// and serve functions at once. It is safe for concurrent use.
//
// A handler that submits a sub-job and waits for it holds one of the pool's
// MaxJobs slots meanwhile. When the sub-job's function is served by the same
// pool and every slot is held by such handlers, nothing is left to run the
// sub-jobs: the handlers wait until their contexts end, a deadlock the
// server cannot see. Serve the sub-jobs' functions from another Pool (or
// Conn), whose MaxJobs is a budget of its own; which pool submits them does
// not matter, as submitting takes no slot. A handler that submits a
// background job and does not wait for it holds nothing.
type Pool struct {
	addrs  []string
	opts   PoolOptions
	budget *jobBudget    // the ordinary connections' slots
	next   atomic.Uint64 // round-robin cursor

	highBudget *jobBudget // all slots, with ReservedHigh: see pool_priority.go
	events     chan Event

	mu      sync.Mutex
	live    []*Conn              // connections that are up, in address order
	funcs   map[string]*register // registered functions, replayed on connect
	changed chan struct{}        // closed and replaced when live changes
	closed  bool
	high    []*Conn // grab-high connections that are up (ReservedHigh)
	highOn  bool    // their supervisors run: a function was registered

	broadcastee *broadcastee // see HandleBroadcasts; guarded by mu

	ctx    context.Context // the pool's lifetime, cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // one supervisor per server
}

// NewPool returns a pool of connections to the servers at addrs and starts
// dialling them in the background; it does not wait for any. Submits wait
// (within their context) until a server is up.
func NewPool(addrs []string, opts *PoolOptions) (*Pool, error) {
	if len(addrs) == 0 {
		return nil, errors.New("gearman: a pool needs at least one server address")
	}
	var o PoolOptions
	if opts != nil {
		o = *opts
	}
	o.Options = o.Options.withDefaults()
	if err := checkClientID(o.ClientID); err != nil {
		return nil, err
	}
	if err := checkReserved(&o); err != nil {
		return nil, err
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	p := &Pool{
		addrs:   append([]string(nil), addrs...),
		opts:    o,
		budget:  newJobBudget(o.MaxJobs),
		events:  make(chan Event, 64),
		funcs:   make(map[string]*register),
		changed: make(chan struct{}),
	}
	if o.ReservedHigh > 0 {
		p.highBudget = p.budget
		p.budget = newChildBudget(o.MaxJobs-o.ReservedHigh, p.highBudget)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for i, addr := range p.addrs {
		p.wg.Add(1)
		go p.supervise(i, addr)
	}
	return p, nil
}

// Events returns a channel of the pool's connection events. It buffers 64;
// when it is full the oldest event is dropped, so an unread channel costs
// nothing.
func (p *Pool) Events() <-chan Event { return p.events }

// Addrs returns the servers' addresses, in the order given.
func (p *Pool) Addrs() []string { return append([]string(nil), p.addrs...) }

// Live returns the addresses of the servers that are up.
func (p *Pool) Live() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.live))
	for i, c := range p.live {
		out[i] = c.addr
	}
	return out
}

// supervise keeps a connection to one server up until the pool closes.
func (p *Pool) supervise(index int, addr string) {
	defer p.wg.Done()
	b := p.newBackoff()
	for {
		c := p.redial(b, func() (*Conn, error) { return p.dial(addr) }, func(err error) bool {
			p.emit(Event{Addr: addr, Kind: DialFailed, Err: err})
			p.opts.Logger.Debug("gearman: dial failed", "server", addr, "error", err)
			return true
		})
		if c == nil {
			return
		}
		if !p.attach(index, c) {
			c.Close()
			return
		}
		p.emit(Event{Addr: addr, Kind: Up})
		select {
		case <-c.Done():
		case <-p.ctx.Done():
		}
		p.detach(c)
		if p.ctx.Err() != nil {
			c.Close()
			return
		}
		err := c.Err()
		c.Close()
		p.emit(Event{Addr: addr, Kind: Down, Err: err})
		p.opts.Logger.Info("gearman: connection lost", "server", addr, "error", err)
	}
}

func (p *Pool) dial(addr string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.DialTimeout)
	defer cancel()
	nc, err := dialNet(ctx, addr, &p.opts.Options)
	if err != nil {
		return nil, err
	}
	return newConn(ctx, nc, addr, p.opts.Options, p.budget)
}

// attach registers the pool's functions on a new connection and adds it to
// the live list, in one step under p.mu so that no Register is missed.
func (p *Pool) attach(index int, c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for fn, reg := range p.funcs {
		if err := c.Register(fn, reg.h, &reg.opts); err != nil {
			p.opts.Logger.Warn("gearman: register failed", "server", c.addr, "function", fn, "error", err)
		}
	}
	// Keep the live list in address order, for the Sequence strategy.
	i := 0
	for i < len(p.live) && p.indexOf(p.live[i].addr) < index {
		i++
	}
	p.live = append(p.live, nil)
	copy(p.live[i+1:], p.live[i:])
	p.live[i] = c
	p.signalChange()
	return true
}

func (p *Pool) indexOf(addr string) int {
	for i, a := range p.addrs {
		if a == addr {
			return i
		}
	}
	return len(p.addrs)
}

func (p *Pool) detach(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.live {
		if x == c {
			p.live = append(p.live[:i], p.live[i+1:]...)
			p.signalChange()
			return
		}
	}
}

// signalChange wakes submits waiting for a live server. p.mu held.
func (p *Pool) signalChange() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Pool) emit(e Event) {
	e.Time = time.Now()
	for {
		select {
		case p.events <- e:
			return
		default:
		}
		select {
		case <-p.events:
		default:
		}
	}
}

// pick returns a live connection not in tried, waiting for one until ctx
// ends.
func (p *Pool) pick(ctx context.Context, tried map[*Conn]bool) (*Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, unsent(fmt.Errorf("gearman: pool: %w", ErrClosed))
		}
		var cands []*Conn
		for _, c := range p.live {
			if !tried[c] && c.Err() == nil {
				cands = append(cands, c)
			}
		}
		changed := p.changed
		p.mu.Unlock()
		if len(cands) > 0 {
			if p.opts.Strategy == Sequence {
				return cands[0], nil
			}
			return cands[p.next.Add(1)%uint64(len(cands))], nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &notSubmittedError{fmt.Errorf("gearman: no job server available: %w", ctx.Err())}
		}
	}
}

// Submit submits job to one of the live servers (see [Conn.Submit]). When
// a server refuses the job or its connection fails before the job was sent,
// the next server is tried; when none is up, Submit waits for one until ctx
// ends. An error for which [SafeToRetry] is true guarantees the job was
// created nowhere.
func (p *Pool) Submit(ctx context.Context, job Job) (*Task, error) {
	if _, err := job.packetType(); err != nil {
		return nil, unsent(err)
	}
	return onServers(ctx, p, func(c *Conn) (*Task, error) { return c.Submit(ctx, job) })
}

// Do runs job on one of the live servers and returns its result (see
// [Conn.Do]). A submit that a server refused or never got is retried on the
// next server, as by Submit; a job lost with its server after it was
// created is not, since it may have run.
func (p *Pool) Do(ctx context.Context, job Job) ([]byte, error) {
	if _, err := job.packetType(); err != nil {
		return nil, unsent(err)
	}
	return onServers(ctx, p, func(c *Conn) ([]byte, error) { return c.Do(ctx, job) })
}

// onServers runs submit on the live servers in turn, waiting for one until
// ctx ends, until one takes the job: a submit that was refused or never
// sent ([SafeToRetry]) goes on to the next server not tried yet.
func onServers[T any](ctx context.Context, p *Pool, submit func(*Conn) (T, error)) (T, error) {
	var zero T
	tried := map[*Conn]bool{}
	refused := 0 // servers that refused the job, their connections up
	var last error
	for {
		c, err := p.pick(ctx, tried)
		if err != nil {
			if last != nil && ctx.Err() == nil {
				return zero, last
			}
			return zero, err
		}
		v, err := submit(c)
		if err == nil {
			return v, nil
		}
		if !SafeToRetry(err) || ctx.Err() != nil {
			return zero, err
		}
		tried[c] = true
		last = err
		var se *ServerError
		if !errors.As(err, &se) && c.Err() != nil {
			// The connection ended before the job was sent: pick waits
			// for its reconnection, or takes another server.
			continue
		}
		if refused++; refused >= len(p.addrs) {
			return zero, err
		}
	}
}

// Open starts a task on one of the live servers, waiting for one until ctx
// ends (see [Conn.Open]). The task stays on that server: if its connection
// fails before Close, Close returns the error. A task whose job declares its
// payload's Size gets a connection of its own (see [Job.Size]).
func (p *Pool) Open(ctx context.Context, job Job) (*Task, error) {
	if _, err := job.packetType(); err != nil {
		return nil, unsent(err)
	}
	c, err := p.pick(ctx, nil)
	if err != nil {
		return nil, err
	}
	if job.Size > 0 && !c.streamable(&job) {
		return p.openDedicated(ctx, c.addr, job)
	}
	return c.Open(ctx, job)
}

// openDedicated opens a task with a declared-size payload on a connection
// of its own to addr, so that no other task waits while the payload streams
// in one packet; the connection closes when the task ends.
func (p *Pool) openDedicated(ctx context.Context, addr string, job Job) (*Task, error) {
	dctx, cancel := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer cancel()
	nc, err := dialNet(dctx, addr, &p.opts.Options)
	if err != nil {
		return nil, unsent(err)
	}
	c, err := newConn(dctx, nc, addr, p.opts.Options, nil)
	if err != nil {
		return nil, unsent(err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return nil, unsent(fmt.Errorf("gearman: pool: %w", ErrClosed))
	}
	p.wg.Add(1)
	p.mu.Unlock()
	t, err := c.Open(ctx, job)
	if err != nil {
		c.Close()
		p.wg.Done()
		return nil, err
	}
	go func() {
		defer p.wg.Done()
		select {
		case <-t.Done():
		case <-p.ctx.Done():
		}
		c.Close()
	}()
	return t, nil
}

// Register registers fn on every server, now and after every reconnect,
// and serves its jobs with h. The pool runs at most MaxJobs jobs at once
// across all servers: a handler that waits for a sub-job served by the same
// pool can deadlock it (see [Pool]); register the sub-jobs' function on
// another pool.
func (p *Pool) Register(fn string, h Handler, opts *RegisterOptions) error {
	if err := checkFunctionName("function name", fn); err != nil {
		return err
	}
	var o RegisterOptions
	if opts != nil {
		o = *opts
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("gearman: pool: %w", ErrClosed)
	}
	p.funcs[fn] = &register{h: h, opts: o}
	p.startHigh()
	for _, c := range p.workers() {
		if err := c.Register(fn, h, &o); err != nil {
			p.opts.Logger.Warn("gearman: register failed", "server", c.addr, "function", fn, "error", err)
		}
	}
	return nil
}

// Unregister stops serving fn on every server (CANT_DO). Jobs of fn already
// running go on.
func (p *Pool) Unregister(fn string) error {
	if err := checkFunctionName("function name", fn); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.funcs, fn)
	for _, c := range p.workers() {
		c.Unregister(fn)
	}
	return nil
}

// Echo checks every live server with ECHO_REQ and reports each one's round
// trip time, or its error. Servers that are down are reported with an error
// wrapping [ErrConnLost].
func (p *Pool) Echo(ctx context.Context) []PerServer[time.Duration] {
	p.mu.Lock()
	live := map[string]*Conn{}
	for _, c := range p.live {
		live[c.addr] = c
	}
	p.mu.Unlock()
	out := make([]PerServer[time.Duration], len(p.addrs))
	var wg sync.WaitGroup
	for i, addr := range p.addrs {
		out[i].Addr = addr
		c := live[addr]
		if c == nil {
			out[i].Err = fmt.Errorf("gearman: %s is down: %w", addr, ErrConnLost)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if _, err := c.Echo(ctx, []byte("ping")); err != nil {
				out[i].Err = err
				return
			}
			out[i].Value = time.Since(start)
		}()
	}
	wg.Wait()
	return out
}

// Shutdown stops taking jobs on every server, waits until the running ones
// have ended and their results are written, or ctx ends, then closes the
// pool.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	live := p.workers()
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(live))
	for i, c := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Shutdown(ctx)
		}()
	}
	wg.Wait()
	p.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// Close closes every connection at once (see [Conn.Close]) and waits for the
// pool's goroutines. Tasks still running end with an error wrapping
// [ErrClosed].
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	live := p.workers()
	p.signalChange()
	p.mu.Unlock()
	p.cancel()
	for _, c := range live {
		c.Close()
	}
	p.wg.Wait()
	return nil
}

// Admin returns an [AdminGroup] for the pool's servers, dialled as the pool
// dials them (same DialContext and TLS configuration): each of its calls asks
// every server and says which server each answer came from. The caller
// closes it.
func (p *Pool) Admin() *AdminGroup {
	return NewAdminGroup(p.addrs, &AdminOptions{DialContext: p.opts.DialContext, TLSConfig: p.opts.TLSConfig})
}
