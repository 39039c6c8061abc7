package gearman

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"
)

// BroadcastPrefix begins the name of the function through which a worker
// takes part in broadcasts: [Pool.HandleBroadcasts] registers
// BroadcastPrefix followed by a random id, one name per pool, so that a
// broadcast can reach each worker with a job of its own. Any worker that
// registers a name with this prefix and a suffix of its own (the C gearman
// tool's "-w -f gearman.broadcast.NAME", say) takes part too: its answer
// is its job's result.
const BroadcastPrefix = "gearman.broadcast."

// BroadcastMessage is a message for every worker of [Pool.Broadcast].
type BroadcastMessage struct {
	// Data is the payload each worker's broadcast handler reads.
	Data []byte
	// Func, when set, limits the broadcast to the workers that serve this
	// function: those whose connection to a server registered both Func
	// and their broadcast function. Empty means every worker that takes
	// part in broadcasts.
	Func string
}

// BroadcastReply is one worker's answer to a broadcast.
type BroadcastReply struct {
	// Worker is the worker's broadcast id: its function's name after
	// [BroadcastPrefix].
	Worker string
	// Addr is the server through which the message went.
	Addr string
	// Data is the result of the worker's handler.
	Data []byte
	// Err is why there is no answer: the handler's failure
	// ([ErrJobFailed], a [*JobException]), the broadcast's context
	// ending before the worker answered, or a server that refused or lost
	// the message.
	Err error
}

// Broadcast is a message on its way to every worker listed when it was
// sent; [Pool.Broadcast] starts it.
//
// Who counts as every worker: the workers that the admin "workers" list of
// the pool's servers shows with a broadcast function ([BroadcastPrefix])
// at the moment of the broadcast (and Func, when set), each counted once
// however many of the servers list it. Workers that join later do not get
// the message. Each gets it at most once: one job, to one server, never
// sent again by the broadcaster; a worker that leaves before taking it
// never gets it, and its reply then says why when the broadcast's context
// ends. A worker whose connection is lost while its handler runs gets the
// message again from the server when it reconnects (a job whose worker
// went away is queued again); [Pool.HandleBroadcasts] refuses the repeat
// without running the handler, and the reply is then an error (the first
// run's answer was lost with its connection).
type Broadcast struct {
	workers []string
	mu      sync.Mutex // guards servers' values
	servers []PerServer[int]
	replies chan BroadcastReply
	cancel  context.CancelFunc
	done    chan struct{}
}

// Workers returns the ids of the workers the message went to, the
// broadcast's "every": one reply comes for each.
func (b *Broadcast) Workers() []string { return append([]string(nil), b.workers...) }

// Servers returns, for each server asked, how many of the workers' messages
// it took so far (created as jobs, answered or not), or why it could not be
// asked (its workers then count as none: they are not in Workers).
func (b *Broadcast) Servers() []PerServer[int] {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]PerServer[int](nil), b.servers...)
}

// took counts a message that the server at addr took.
func (b *Broadcast) took(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.servers {
		if b.servers[i].Addr == addr {
			b.servers[i].Value++
		}
	}
}

// Replies yields one reply for every worker in Workers as it comes, in the
// order the workers answer; it ends when all have answered. Replies for
// the workers that have not answered when the broadcast's context ends (or
// Close is called) say so in their Err. Replies may be ranged over once.
func (b *Broadcast) Replies() iter.Seq[BroadcastReply] {
	return func(yield func(BroadcastReply) bool) {
		for r := range b.replies {
			if !yield(r) {
				return
			}
		}
	}
}

// Wait waits until every worker has answered, or the broadcast's context
// has ended, and returns all the replies not yet taken from Replies.
func (b *Broadcast) Wait() []BroadcastReply {
	var out []BroadcastReply
	for r := range b.replies {
		out = append(out, r)
	}
	return out
}

// Close withdraws the message from the workers that have not taken it,
// stops waiting for those that have, and waits until the broadcast has
// closed its connections: each server drops the messages still queued
// once it has seen the connection close. Their replies then carry an error wrapping
// [context.Canceled]. Close is idempotent.
func (b *Broadcast) Close() error {
	b.cancel()
	<-b.done
	return nil
}

// HandleBroadcasts makes the pool take part in broadcasts: it registers a
// function of its own, [BroadcastPrefix] and a random id, on every server,
// and serves the broadcasts it receives with h, whose result is the
// pool's answer. It returns the id; calling it again replaces the handler
// and keeps the id. A broadcast job takes one of the pool's MaxJobs slots
// while h runs, as any job does; broadcasters submit it with high
// priority, so on this package's server it is taken before the queued
// jobs of normal and low priority. A message the pool took before (the
// server gives it again when the pool's connection was lost while h ran)
// fails without running h again.
func (p *Pool) HandleBroadcasts(h Handler) (string, error) {
	b := broadcasteeOf(&p.mu, &p.broadcastee, h)
	return b.id, p.Register(BroadcastPrefix+b.id, b, nil)
}

// HandleBroadcasts is [Pool.HandleBroadcasts] for one connection.
func (c *Conn) HandleBroadcasts(h Handler) (string, error) {
	b := broadcasteeOf(&c.mu, &c.broadcastee, h)
	return b.id, c.Register(BroadcastPrefix+b.id, b, nil)
}

// broadcasteeOf returns the broadcastee in *slot (guarded by mu), made on
// first use, serving its broadcasts with h from now on.
func broadcasteeOf(mu *sync.Mutex, slot **broadcastee, h Handler) *broadcastee {
	mu.Lock()
	if *slot == nil {
		*slot = newBroadcastee()
	}
	b := *slot
	mu.Unlock()
	b.serve(h)
	return b
}

func newBroadcastID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Broadcast sends msg to every worker that takes part in broadcasts (see
// [Pool.HandleBroadcasts]) on the pool's servers, or every one that serves
// msg.Func, and returns at once with the list of workers it went to; their
// answers come on [Broadcast.Replies]. It lists the workers with the admin
// "workers" command of each server, then submits one high-priority job to
// each worker's broadcast function, on a connection of the broadcast's own
// to each server it needs, closed when the broadcast ends: on gearmand as
// on this package's server, a message a worker has not taken by then is
// withdrawn with it. ctx bounds the whole broadcast: listing, sending and
// waiting for the answers; a server that has not listed its workers within
// 5s is left out (its [PerServer] in [Broadcast.Servers] says why). It fails
// only when no server could be asked.
// A worker that left after the listing never answers: end ctx, or call
// [Broadcast.Close], to stop waiting for it and release the broadcast's
// goroutines and connections.
//
// A handler may broadcast, but must not wait for the answer of its own
// pool while that pool's slots are all taken (see [Pool]).
func (p *Pool) Broadcast(ctx context.Context, msg BroadcastMessage) (*Broadcast, error) {
	return broadcast(ctx, p.addrs, &p.opts.Options, msg)
}

// Broadcast is [Pool.Broadcast] on this connection's server, which it dials
// again (with the Options' DialContext and TLS configuration) for the
// admin list and the messages.
func (c *Conn) Broadcast(ctx context.Context, msg BroadcastMessage) (*Broadcast, error) {
	return broadcast(ctx, []string{c.addr}, &c.opts, msg)
}

// recipient is one worker of a broadcast and the servers that list it.
type recipient struct {
	id    string
	addrs []string
}

func broadcast(ctx context.Context, addrs []string, o *Options, msg BroadcastMessage) (*Broadcast, error) {
	if msg.Func != "" {
		if err := checkFunctionName("function name", msg.Func); err != nil {
			return nil, err
		}
	}
	lists := listWorkers(ctx, addrs, o)
	var rcpts []*recipient
	byID := map[string]*recipient{}
	b := &Broadcast{done: make(chan struct{})}
	var errs []error
	for _, l := range lists {
		b.servers = append(b.servers, PerServer[int]{Addr: l.Addr, Err: l.Err})
		if l.Err != nil {
			errs = append(errs, l.Err)
			continue
		}
		for _, w := range l.Value {
			for _, id := range broadcastIDs(w, msg.Func) {
				r := byID[id]
				if r == nil {
					r = &recipient{id: id}
					byID[id] = r
					rcpts = append(rcpts, r)
				}
				r.addrs = append(r.addrs, l.Addr)
			}
		}
	}
	if len(errs) == len(addrs) {
		return nil, fmt.Errorf("gearman: broadcast: no server could list its workers: %w", errors.Join(errs...))
	}
	for _, r := range rcpts {
		b.workers = append(b.workers, r.id)
	}
	b.replies = make(chan BroadcastReply, len(rcpts))
	ctx, b.cancel = context.WithCancel(ctx)
	s := &sender{id: newBroadcastID(), o: o, conns: map[string]*connDial{}}
	var wg sync.WaitGroup
	for _, r := range rcpts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.replies <- s.deliver(ctx, r, msg.Data, b.took)
		}()
	}
	go func() {
		wg.Wait()
		b.cancel()
		s.close()
		close(b.replies)
		close(b.done)
	}()
	return b, nil
}

// broadcastIDs returns the broadcast ids of a connection of the "workers"
// list: the suffixes of its broadcast functions, when it serves fn (or fn
// is empty).
func broadcastIDs(w WorkerInfo, fn string) []string {
	var ids []string
	serves := fn == ""
	for _, f := range w.Functions {
		if f == fn {
			serves = true
		}
		if id, ok := strings.CutPrefix(f, BroadcastPrefix); ok && id != "" {
			ids = append(ids, id)
		}
	}
	if !serves {
		return nil
	}
	return ids
}

// listWait bounds each server's "workers" list: a server that does not
// answer the admin protocol (the abraxas server has none) leaves the
// broadcast to the others after that long instead of holding it until its
// context ends.
var listWait = 5 * time.Second

// listWorkers asks every server for its "workers" list at once.
func listWorkers(ctx context.Context, addrs []string, o *Options) []PerServer[[]WorkerInfo] {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, listWait)
	defer cancel()
	out := make([]PerServer[[]WorkerInfo], len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		out[i].Addr = addr
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := DialAdmin(ctx, addr, &AdminOptions{DialContext: o.DialContext, TLSConfig: o.TLSConfig})
			if err != nil {
				out[i].Err = err
				return
			}
			defer a.Close()
			out[i].Value, out[i].Err = a.Workers(ctx)
			if errors.Is(out[i].Err, context.DeadlineExceeded) && parent.Err() == nil {
				out[i].Err = fmt.Errorf("gearman: broadcast: %s did not answer the admin workers list within %v: %w", addr, listWait, out[i].Err)
			}
		}()
	}
	wg.Wait()
	return out
}

// sender holds a broadcast's connections, one per server, dialled on first
// use.
type sender struct {
	id    string // the broadcast's, each message's unique id (broadcast_once.go)
	o     *Options
	mu    sync.Mutex
	conns map[string]*connDial
}

type connDial struct {
	once sync.Once
	c    *Conn
	err  error
}

func (s *sender) conn(ctx context.Context, addr string) (*Conn, error) {
	s.mu.Lock()
	d := s.conns[addr]
	if d == nil {
		d = &connDial{}
		s.conns[addr] = d
	}
	s.mu.Unlock()
	d.once.Do(func() {
		nc, err := dialNet(ctx, addr, s.o)
		if err != nil {
			d.err = err
			return
		}
		o := *s.o
		o.MaxJobs = 1
		d.c, d.err = newConn(ctx, nc, addr, o, nil)
	})
	return d.c, d.err
}

func (s *sender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.conns {
		if d.c != nil {
			d.c.Close()
		}
	}
}

// deliver sends the message to one worker through the first of its
// servers that takes the job, calls took with that server's address, and
// waits for the answer. A job is sent again to the next server only when
// the last one surely did not create it (see [SafeToRetry]), so the worker
// gets it at most once.
func (s *sender) deliver(ctx context.Context, r *recipient, data []byte, took func(addr string)) BroadcastReply {
	reply := BroadcastReply{Worker: r.id}
	job := Job{Func: BroadcastPrefix + r.id, Unique: s.id, Data: data, Priority: High}
	for _, addr := range r.addrs {
		reply.Addr = addr
		c, err := s.conn(ctx, addr)
		if err != nil {
			reply.Err = unsent(err)
			continue
		}
		t, err := c.Submit(ctx, job)
		if err != nil {
			reply.Err = err
			if SafeToRetry(err) && ctx.Err() == nil {
				continue
			}
			return reply
		}
		took(addr)
		reply.Data, reply.Err = t.Result(ctx)
		return reply
	}
	return reply
}
