package gearman

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// The admin protocol is the job server's text protocol: one command per line,
// answered by "OK", "OK value", "ERR CODE message", or a list of lines ended
// by a line holding ".". gearmand answers it on its ordinary port, beside the
// binary protocol.

// ErrUnknownCommand means the job server does not know an admin command: it
// answered "ERR UNKNOWN_COMMAND" (gearmand 1.1.15 and later do so for
// "shutdown"). An [*AdminError] with that code matches it with [errors.Is].
var ErrUnknownCommand = errors.New("gearman: unknown admin command")

// ErrAdminArgument means an admin call was given an argument the text
// protocol cannot carry: an empty word, or one holding a space, a line end or
// a NUL byte. Nothing was sent.
var ErrAdminArgument = errors.New("gearman: admin argument cannot be sent")

// FunctionStatus is one function of the "status" answer: its queued jobs
// (gearmand counts running jobs too), running jobs and worker registrations.
type FunctionStatus = wire.FunctionStatus

// PriorityStatus is one function of the "prioritystatus" answer: its queued,
// not running, jobs at each priority and its worker registrations.
type PriorityStatus = wire.PriorityStatus

// WorkerInfo is one connection of the "workers" answer, with the functions it
// registered (none for a client or an admin connection).
type WorkerInfo = wire.WorkerInfo

// JobInfo is one job of the "show jobs" answer.
type JobInfo = wire.JobInfo

// AdminError is an "ERR" answer to an admin command.
type AdminError struct {
	Command string // the command sent, without its arguments, such as "cancel job"
	Code    string // the first word after ERR, such as UNKNOWN_JOB or UNKNOWN_COMMAND
	Message string // the rest, with gearmand's '+' for spaces turned back into spaces
	Line    string // the answer line as the server sent it, without its line end
}

// Error returns "gearman: admin COMMAND: server answered ERR CODE: message".
func (e *AdminError) Error() string {
	var b strings.Builder
	b.WriteString("gearman: admin ")
	b.WriteString(e.Command)
	b.WriteString(": server answered ERR ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is [ErrUnknownCommand] and the code is
// UNKNOWN_COMMAND.
func (e *AdminError) Is(target error) bool {
	return target == ErrUnknownCommand && e.Code == "UNKNOWN_COMMAND"
}

// AdminOptions configures [DialAdmin]. A nil *AdminOptions means the zero
// value: a plain TCP connection made by a [net.Dialer].
type AdminOptions struct {
	// DialContext makes the connection. Nil means a zero net.Dialer's
	// DialContext.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig, when not nil, makes the connection a TLS client with this
	// configuration. An empty ServerName is taken from the address's host.
	TLSConfig *tls.Config
}

// AdminClient sends admin commands to one job server over one connection.
//
// It is safe for concurrent use: calls are sent one at a time, in the order
// they obtain the connection. Every call takes a context; its deadline
// bounds the call's I/O, and cancelling it ends the call promptly. A call
// ended while its answer was still arriving leaves the connection at an
// unknown point of the stream, so the client then closes the connection, and
// every later call fails with an error wrapping [ErrConnLost]. After
// [AdminClient.Close], calls fail with an error wrapping [ErrClosed].
//
// An AdminClient starts no goroutines.
type AdminClient struct {
	addr string
	conn net.Conn
	sem  chan struct{} // holds one token while a call uses the connection

	// Owned by the holder of sem.
	r   *wire.Reader
	buf []byte

	mu     sync.Mutex
	closed bool
	err    error // sticky: why calls can no longer be made
}

// DialAdmin connects to the job server at addr ("host:port") for admin
// commands. ctx bounds the connection's setup only.
func DialAdmin(ctx context.Context, addr string, opts *AdminOptions) (*AdminClient, error) {
	var o AdminOptions
	if opts != nil {
		o = *opts
	}
	dial := o.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gearman: admin dial %s: %w", addr, err)
	}
	if o.TLSConfig != nil {
		cfg := o.TLSConfig.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("gearman: admin TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	c := NewAdminClient(conn)
	c.addr = addr
	return c, nil
}

// NewAdminClient returns an AdminClient that sends its commands over conn,
// which it owns from then on: [AdminClient.Close] closes it.
func NewAdminClient(conn net.Conn) *AdminClient {
	addr := ""
	if ra := conn.RemoteAddr(); ra != nil {
		addr = ra.String()
	}
	return &AdminClient{
		addr: addr,
		conn: conn,
		sem:  make(chan struct{}, 1),
		r:    wire.NewReader(conn),
	}
}

// Addr returns the address given to [DialAdmin], or the connection's remote
// address for [NewAdminClient].
func (a *AdminClient) Addr() string { return a.addr }

// Close closes the connection. A call in progress ends with an error
// wrapping [ErrClosed]. Close is idempotent and always returns nil after the
// first call.
func (a *AdminClient) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.err = fmt.Errorf("gearman: admin connection to %s: %w", a.addr, ErrClosed)
	a.mu.Unlock()
	return a.conn.Close()
}

// Status returns the "status" answer: every function the server knows, with
// its job and worker counts, in the server's order.
func (a *AdminClient) Status(ctx context.Context) ([]FunctionStatus, error) {
	return adminList(ctx, a, wire.ParseStatus, "status")
}

// PriorityStatus returns the "prioritystatus" answer: every function with its
// queued jobs per priority (gearmand 1.1.15 and later).
func (a *AdminClient) PriorityStatus(ctx context.Context) ([]PriorityStatus, error) {
	return adminList(ctx, a, wire.ParsePriorityStatus, "prioritystatus")
}

// Workers returns the "workers" answer: every connection of the server
// (clients and admin connections too) with the functions it registered.
func (a *AdminClient) Workers(ctx context.Context) ([]WorkerInfo, error) {
	return adminList(ctx, a, wire.ParseWorkers, "workers")
}

// ShowJobs returns the "show jobs" answer: every job the server holds.
func (a *AdminClient) ShowJobs(ctx context.Context) ([]JobInfo, error) {
	return adminList(ctx, a, wire.ParseShowJobs, "show", "jobs")
}

// ShowUniqueJobs returns the "show unique jobs" answer: the unique id of every
// job the server holds (an empty string for a job submitted without one).
func (a *AdminClient) ShowUniqueJobs(ctx context.Context) ([]string, error) {
	return a.List(ctx, "show", "unique", "jobs")
}

// Version returns the server's version, such as "1.1.20+ds".
func (a *AdminClient) Version(ctx context.Context) (string, error) {
	return a.Command(ctx, "version")
}

// Verbose returns the server's log level, such as "WARNING".
func (a *AdminClient) Verbose(ctx context.Context) (string, error) {
	return a.Command(ctx, "verbose")
}

// PID returns the server's process id (the "getpid" command).
func (a *AdminClient) PID(ctx context.Context) (int, error) {
	s, err := a.Command(ctx, "getpid")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: getpid answered %q, not a number", wire.ErrBadReply, s)
	}
	return pid, nil
}

// CancelJob removes the queued job with the handle from the server
// ("cancel job"). gearmand answers an unknown handle with an [*AdminError]
// whose Code is UNKNOWN_JOB. A job already running is cancelled too, by
// gearmand (1.1.20, observed) and this package's [Server] alike: its
// clients get WORK_FAIL at once, its worker goes on, and the job stays
// known and running to [Conn.JobStatus] until the worker ends it (this
// package's server then drops the result; gearmand may forward it, which
// this package's clients, done with the job, ignore).
//
// gearmand (1.1) fails the job for its clients at once (WORK_FAIL), but
// keeps it in memory: it stays counted in [AdminClient.Status], known to
// [Conn.JobStatus], and listed by [AdminClient.ShowJobs] with Ignore set,
// until a worker's grab reaches it and drops it without running it. This
// package's [Server] removes it at once.
func (a *AdminClient) CancelJob(ctx context.Context, handle string) error {
	_, err := a.Command(ctx, "cancel", "job", handle)
	return err
}

// CreateFunction makes the server know the function before any worker or
// job names it ("create function").
func (a *AdminClient) CreateFunction(ctx context.Context, name string) error {
	_, err := a.Command(ctx, "create", "function", name)
	return err
}

// DropFunction makes the server forget a function with no workers and no
// running jobs ("drop function"). gearmand answers an unknown function with
// an [*AdminError] whose Line is "ERR function not found" (so its Code is
// "function"), and a function still in use with "ERR there are still
// connected workers or executing clients".
func (a *AdminClient) DropFunction(ctx context.Context, name string) error {
	_, err := a.Command(ctx, "drop", "function", name)
	return err
}

// MaxQueue sets the longest queue of the function at each priority
// ("maxqueue FN HIGH NORMAL LOW"); 0 or less means no limit. gearmand
// ignores, and answers OK to, a function it does not know yet.
func (a *AdminClient) MaxQueue(ctx context.Context, fn string, high, normal, low int) error {
	_, err := a.Command(ctx, "maxqueue", fn, strconv.Itoa(high), strconv.Itoa(normal), strconv.Itoa(low))
	return err
}

// MaxQueueAll sets one longest queue for every priority of the function
// ("maxqueue FN N"); 0 or less means no limit.
func (a *AdminClient) MaxQueueAll(ctx context.Context, fn string, n int) error {
	_, err := a.Command(ctx, "maxqueue", fn, strconv.Itoa(n))
	return err
}

// Shutdown asks the server to stop ("shutdown", or "shutdown graceful" to
// let running jobs finish first). gearmand 1.1.15 and later no longer have
// the command and answer with an error matching [ErrUnknownCommand]. A
// server that closes the connection instead of answering has done what was
// asked: Shutdown then returns nil and later calls fail.
func (a *AdminClient) Shutdown(ctx context.Context, graceful bool) error {
	words := []string{"shutdown"}
	if graceful {
		words = append(words, "graceful")
	}
	_, err := a.command(ctx, true, words...)
	return err
}

// Command sends a command whose answer is one line, and returns the value of
// an "OK value" answer ("" for a bare "OK"). An "ERR" answer is an
// [*AdminError]. It serves commands this package has no method for; words
// are joined by spaces and must not hold spaces themselves.
func (a *AdminClient) Command(ctx context.Context, words ...string) (string, error) {
	return a.command(ctx, false, words...)
}

// List sends a command whose answer is a list, and returns its lines up to
// the "." that ends it. An "ERR" answer is an [*AdminError].
func (a *AdminClient) List(ctx context.Context, words ...string) ([]string, error) {
	return adminList(ctx, a, func(b []byte) (string, error) { return string(b), nil }, words...)
}

func (a *AdminClient) command(ctx context.Context, eofOK bool, words ...string) (string, error) {
	var value string
	err := a.adminRoundTrip(ctx, words, func(r *wire.Reader) error {
		line, err := adminReadLine(r)
		if err != nil {
			if eofOK && errors.Is(err, io.EOF) {
				return adminGone{}
			}
			return err
		}
		v, err := wire.ParseReply(line)
		if err != nil {
			if re, ok := err.(*wire.ReplyError); ok {
				return adminErrorFrom(words, line, re)
			}
			return adminDesync{err}
		}
		value = v
		return nil
	})
	if _, ok := err.(adminGone); ok {
		return "", nil
	}
	return value, err
}

// adminList sends a command answered by a list and parses each line.
func adminList[T any](ctx context.Context, a *AdminClient, parse func([]byte) (T, error), words ...string) ([]T, error) {
	var out []T
	err := a.adminRoundTrip(ctx, words, func(r *wire.Reader) error {
		var perr error
		for first := true; ; first = false {
			line, err := adminReadLine(r)
			if err != nil {
				return err
			}
			if wire.IsEnd(line) {
				if perr != nil {
					return perr
				}
				return nil
			}
			if first && adminIsErr(line) {
				_, err := wire.ParseReply(line)
				if re, ok := err.(*wire.ReplyError); ok {
					return adminErrorFrom(words, line, re)
				}
			}
			v, err := parse(line)
			if err != nil {
				if perr == nil {
					perr = err // keep reading to the end to stay in step
				}
				continue
			}
			out = append(out, v)
		}
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// adminIsErr reports whether a list's first line is an ERR answer rather
// than an item: list items hold tabs or start with a number, ERR answers
// hold no tab.
func adminIsErr(line []byte) bool {
	s := string(line)
	return (s == "ERR" || strings.HasPrefix(s, "ERR ")) && !strings.Contains(s, "\t")
}

func adminReadLine(r *wire.Reader) ([]byte, error) {
	p, err := r.Next()
	if err != nil {
		return nil, err
	}
	if p.Magic != wire.Text {
		return nil, adminDesync{fmt.Errorf("%w: a binary %v packet answered an admin command", wire.ErrBadReply, p.Type)}
	}
	return p.Args[0], nil
}

func adminErrorFrom(words []string, line []byte, re *wire.ReplyError) *AdminError {
	return &AdminError{
		Command: adminCommandName(words),
		Code:    re.Code,
		Message: re.Message,
		Line:    string(line),
	}
}

// adminCommandName returns the command words without the arguments.
func adminCommandName(words []string) string {
	if len(words) == 0 {
		return ""
	}
	switch strings.ToLower(words[0]) {
	case "show", "cancel", "create", "drop":
		if len(words) >= 2 {
			if len(words) >= 3 && strings.EqualFold(words[1], "unique") {
				return strings.Join(words[:3], " ")
			}
			return words[0] + " " + words[1]
		}
	}
	return words[0]
}

// adminDesync marks an answer that leaves the stream at an unknown point.
type adminDesync struct{ err error }

func (e adminDesync) Error() string { return e.err.Error() }
func (e adminDesync) Unwrap() error { return e.err }

// adminGone marks a server that closed the connection after "shutdown".
type adminGone struct{}

func (adminGone) Error() string { return "gearman: server closed the admin connection" }

// adminLongAgo is a deadline in the past, which interrupts blocked I/O.
var adminLongAgo = time.Unix(1, 0)

// adminRoundTrip sends one command and reads its answer with read, holding
// the connection for the whole exchange. Errors of read that are not admin
// answers break the connection.
func (a *AdminClient) adminRoundTrip(ctx context.Context, words []string, read func(*wire.Reader) error) error {
	name := adminCommandName(words)
	for _, w := range words {
		if w == "" || strings.ContainsAny(w, " \r\n\x00") {
			return fmt.Errorf("gearman: admin %s: %q: %w", name, w, ErrAdminArgument)
		}
	}
	if len(words) == 0 {
		return fmt.Errorf("gearman: admin: no command: %w", ErrAdminArgument)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gearman: admin %s: %w", name, err)
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("gearman: admin %s: %w", name, ctx.Err())
	}
	defer func() { <-a.sem }()
	if err := a.adminErr(); err != nil {
		return err
	}

	deadline, _ := ctx.Deadline()
	a.conn.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		a.conn.SetDeadline(adminLongAgo)
		close(fired)
	})
	a.buf = wire.AppendCommand(a.buf[:0], words...)
	_, err := a.conn.Write(a.buf)
	if err == nil {
		err = read(a.r)
	}
	if !stop() {
		<-fired
	}
	if err == nil {
		return nil
	}
	var ae *AdminError
	if errors.As(err, &ae) {
		return err
	}
	if _, ok := err.(adminGone); ok {
		a.adminBreak(fmt.Errorf("gearman: admin connection to %s: %w after %s", a.addr, ErrConnLost, name))
		return err
	}
	var d adminDesync
	if !errors.As(err, &d) && errors.Is(err, wire.ErrBadReply) {
		return fmt.Errorf("gearman: admin %s: %w", name, err) // the list was read to its end
	}
	a.adminBreak(fmt.Errorf("gearman: admin connection to %s: %w: %v", a.addr, ErrConnLost, err))
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("gearman: admin %s: %w", name, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !deadline.IsZero() {
		return fmt.Errorf("gearman: admin %s: %w", name, context.DeadlineExceeded)
	}
	return a.adminErr()
}

func (a *AdminClient) adminErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// adminBreak closes the connection after it was left out of step; Close's
// error wins over err.
func (a *AdminClient) adminBreak(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
	a.conn.Close()
}
