package gearman

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/srvhook"
	"github.com/seed749d6d6d/gearman/internal/store"
)

// Server is a Gearman job server. It speaks the binary protocol and the admin
// text protocol of gearmand 1.1 on the same port, so gearmand's own clients,
// workers and gearadmin work with it unchanged.
//
// The zero value is a valid configuration: it serves on 127.0.0.1:4730. The
// configuration fields must not be modified after the first call of any
// method. A Server is safe for concurrent use.
//
// # Semantics
//
// Jobs live in memory, and background jobs also in [Server.Store] when one
// is set. Within one function and priority, jobs run in
// submission order; a worker is served HIGH before NORMAL before LOW across
// all its functions, taking turns between functions at one level (gearmand
// 2.0's rule). A foreground submit whose unique id matches a queued or
// running job of the same function attaches to it; a background one is not
// queued twice. A submit whose unique id holds a line break (CR or LF)
// is refused with ERROR INVALID_ARGUMENT: it would forge lines of the
// admin "show unique jobs" list (see [wire.ValidUnique]). A new job wakes one sleeping worker that can run it (no
// thundering herd). A woken worker counts as awake until it grabs, or for
// at most 500 ms: one that was sent NOOP and has not sent GRAB_JOB by then
// (a frozen process, a stuck event loop, a hostile or buggy peer, or a
// worker busy elsewhere) no longer counts, and the next sleeper is woken.
// Each such worker thus delays the job it was woken for by at most 500 ms
// (gearmand, which wakes every sleeper, does not delay it); a late grab by
// it gets a job or NO_JOB, and waking one worker more than needed costs
// only that NO_JOB.
//
// A worker that disconnects (or sends CANT_DO or RESET_ABILITIES) while
// holding a job has the job queued again, up to [Server.JobRetries]
// attempts. A job that passes its worker's CAN_DO_TIMEOUT (in milliseconds,
// at least 1000) fails at once: its clients get WORK_FAIL and a late result
// gets ERROR JOB_NOT_FOUND. A client that disconnects drops its foreground
// jobs that no worker has started and no other client waits for.
//
// Beside gearmand's "exceptions", OPTION_REQ knows "streaming" and
// "stream-chunks" (see [Options.Streaming]) and "grab-high"
// (wire.OptionGrabHigh): the connection's grabs then take high-priority
// jobs only, and it is woken only for those (however many such connections
// sleep, a job of another priority never looks at them, and a high job
// wakes at most one of them), which is how a [Pool] keeps slots for them
// ([PoolOptions.ReservedHigh]). With "job-assigned" (wire.OptionAssigned)
// a client is told when each of its foreground jobs starts: WORK_STATUS
// with 0 of 0 at each assignment to a worker, before anything the worker
// sends, and, to a submit that joins a job already running, WORK_STATUS
// with its progress so far just after JOB_CREATED; a [Conn] asks for it
// for [Job.RunTimeout]. A connection that did not ask never gets these.
//
// A background job whose worker fails it (WORK_FAIL, WORK_EXCEPTION) is
// gone, as in gearmand, unless [Server.RetryFailed] (or the admin command
// "retries" for its function) says to retry it with backoff and then keep
// it as a dead letter; see [RetryPolicy].
//
// A function the server learned of from a submit or a CAN_DO is forgotten
// (it leaves the admin status) once every connection that submitted to it
// or registered it has closed, and it has no job left in any state; one an
// admin made with "create function" or configured with "maxqueue" stays
// until "drop function", as does one with dead letters or a retry policy
// of its own. (gearmand never forgets a function.)
//
// # Memory
//
// Each connection has its own outbound queue, so a slow reader never stalls
// another connection. A connection's unsent output is limited to twice
// MaxPacketSize plus 16 MiB: a reply or result that would take a peer that
// stopped reading past it closes that connection instead, so the server
// holds at most that much for any one connection. Payloads from 64 KiB
// are queued by reference, never copied per connection; so are results
// from 16 MiB, and smaller ones from 64 KiB to a connection that is behind.
// A request larger than MaxPacketSize is answered with ERROR and closes the
// connection.
//
// A job's payload is held once: a large packet is read into one buffer of
// its size, which becomes the job's, and goes to the worker from there
// without a copy. So that a header alone cannot make the server allocate
// much, that buffer is made whole only once an eighth of the body has come
// (the part before is copied once), so a large job peaks at under 1.25
// times its payload. Jobs held whole (plain submits) have no limit but
// MaxPacketSize each and [Server.MaxQueue]. With a [Server.Store], a
// background job's record is written from that buffer too (a payload under
// 64 KiB is copied into the store's write buffer); replaying the job after
// a restart briefly takes twice its payload, as its segment file is read
// whole and the payload copied out.
//
// A streamed payload (the streaming extension, wire/STREAMING.md) is passed
// on as it comes, under per-job credit windows of 256 KiB: the server lets a
// client send more only as a worker takes the payload, so it holds at most
// one window of each stream job, however long the job waits for a worker
// (its client's writes block meanwhile). The exception is a job whose
// function has workers, none of which negotiated the extension: they can
// only take the payload whole, so the server spools it, in 1 MiB chunks, up
// to [Server.MaxSpool] bytes per job and [Server.MaxSpoolTotal] bytes across
// the server. A payload that would pass either limit fails at once: its
// client gets WORK_EXCEPTION (this package's client: a [JobException] whose
// message names the limit) and STREAM_ABORT, so its writes stop with an
// error. When such a job completes, its chunks are joined into one buffer
// of its size, which briefly takes twice the payload.
//
// # Exposure
//
// The admin text protocol shares the job port, as in gearmand: whoever can
// connect can list workers and jobs, cancel jobs, drop functions and set
// queue limits (and, with EnableShutdownCommand, stop the server). There is
// no authentication, so keep the port off untrusted networks: listen on
// loopback or a private address (Addr, or a listener of your own passed to
// Serve), let a firewall admit only your clients and workers, or set
// TLSConfig with ClientAuth tls.RequireAndVerifyClientCert so that only
// holders of your certificates get in. [Server.Handler]'s HTTP side
// (metrics, the status page and its API) has no authentication either:
// serve it on loopback or a private address.
//
// Against peers that misbehave: MaxConnections caps the connections, and
// since idle connections are never cut, a firewall rule limiting
// connections per address keeps one host from taking them all;
// HandshakeTimeout and PacketTimeout close connections that start a TLS
// handshake or a packet and never finish it; MaxPacketSize, the output
// limit above and MaxFunctionName bound what one peer makes the server
// hold, and MaxSpoolTotal what all of them make it spool for workers
// without the streaming extension.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on.
	// Default "127.0.0.1:4730".
	Addr string

	// TLSConfig, when set, makes every connection TLS (gearmand's --ssl).
	TLSConfig *tls.Config

	// MaxPacketSize caps the body of one packet a peer may send.
	// Default 256 MiB plus 64 KiB: a 256 MiB payload with its other
	// arguments.
	MaxPacketSize int64

	// MaxSpool caps the payload of one streamed job that the server holds
	// whole for a worker without the streaming extension (see [Server.Memory]);
	// a longer payload fails. Default MaxPacketSize less 64 KiB (256 MiB
	// by default), so that the job fits one JOB_ASSIGN packet; at least
	// 256 KiB.
	MaxSpool int64

	// MaxSpoolTotal caps what the server holds across all streamed jobs it
	// spools for workers without the streaming extension, counting each
	// job's payload and the credit its client holds (at most a window
	// ahead), past the first 256 KiB window of each job (which every
	// stream job may hold). A payload whose client needs credit the spool
	// cannot give fails. Default four times MaxSpool (1 GiB by default).
	MaxSpoolTotal int64

	// MaxConnections caps the open connections; a connection past the cap
	// is closed at once. Default 0: no limit.
	MaxConnections int

	// HandshakeTimeout bounds a TLS handshake: a connection that has not
	// finished it by then is closed. Default 10 seconds; negative means no
	// limit. It does not apply to ServeConn's connections unless they are
	// *tls.Conn.
	HandshakeTimeout time.Duration

	// PacketTimeout bounds a packet (or admin line) that has started to
	// arrive: once its first byte is in, the rest must come within
	// PacketTimeout, and a packet larger than 1 MiB may take longer as
	// long as each further MiB comes within PacketTimeout of the last
	// (about 17 KiB/s with the default). A connection that misses it is
	// closed. Default 60 seconds; negative means no limit. A connection
	// idle between packets is never closed: workers may sleep for hours.
	PacketTimeout time.Duration

	// MaxQueue is the initial limit on the jobs (queued and running) of each
	// function, for every priority, as the admin command "maxqueue F N"
	// sets it. Default 0: no limit.
	MaxQueue int

	// MaxFunctionName is the longest function name, in bytes, the server
	// accepts in a submit, CAN_DO or the admin's "create function"; a
	// longer one is refused with ERROR ARGUMENT_TOO_LARGE (ERR
	// INVALID_ARGUMENTS for the admin command). Default 512, gearmand's
	// GEARMAN_FUNCTION_MAX_SIZE. Whatever the length, a name holding a
	// space or a control character (see [wire.ValidFunctionName]), which
	// would forge lines or fields of the admin lists, is refused with
	// ERROR INVALID_ARGUMENT; gearmand accepts such names.
	MaxFunctionName int

	// MaxClientID is the length at which a SET_CLIENT_ID value is cut, as
	// gearmand cuts it. Default 127. An id holding a control character
	// (see [wire.ValidClientID]) is refused with ERROR INVALID_ARGUMENT and
	// the connection keeps its previous id.
	MaxClientID int

	// JobRetries is how many attempts a job gets when its workers disconnect
	// while running it: 0 (the default) means no limit, as in gearmand 1.1;
	// N > 0 fails the job (WORK_FAIL to its clients) when its N-th attempt
	// is lost.
	JobRetries int

	// RetryFailed is what becomes of a background job whose worker fails
	// it (WORK_FAIL or WORK_EXCEPTION): retried with backoff, then kept
	// as a dead letter (see [RetryPolicy]). The admin command "retries"
	// sets it per function. Default zero: the job is gone, as in gearmand.
	RetryFailed RetryPolicy

	// MaxDeadLetters bounds the dead-letter list: past it, the oldest
	// dead letter is dropped (and logged) for each new one. Default 10000.
	MaxDeadLetters int

	// HandlePrefix is the part of job handles before ":<number>".
	// Default "H:" followed by the host name, as gearmand.
	HandlePrefix string

	// Exceptions turns the "exceptions" option on for every connection
	// (gearmand's --exceptions). Otherwise a client gets WORK_EXCEPTION only
	// after OPTION_REQ exceptions, and WORK_FAIL in its place before.
	Exceptions bool

	// EnableShutdownCommand makes the admin commands "shutdown" and
	// "shutdown graceful" work, as in gearmand before 1.1.15. Default off:
	// they get gearmand's unknown-command error, since anyone who can reach
	// the port could stop the server.
	EnableShutdownCommand bool

	// Version is the answer to the admin command "version".
	// Default "1.1.20-gogearman".
	Version string

	// Store keeps the background jobs across restarts and crashes (see
	// [Store]); the Server closes it when it closes. Default nil: jobs live
	// in memory only.
	Store *Store

	// Logger receives the server's log. Default nil: no logging. The admin
	// command "verbose" reports the most detailed level it has enabled.
	Logger *slog.Logger

	// MetricFunctions caps the functions that [Server.Handler]'s metrics
	// label by name: past it, functions share the label value
	// "(other functions)". Default 100.
	MetricFunctions int

	srvOnce   sync.Once
	srvEngine *jobserver.Server
	hooks     // the tests' and gearmantest's clock and observer
	httpOnce  sync.Once
	httpH     http.Handler // Handler's (http.go)
}

// hooks is srvhook.State under this package's name: embedded, it exports
// nothing, and makes *Server a srvhook.Server.
type hooks = srvhook.State

func init() {
	// *Server is the only srvhook.Server (the only type that embeds
	// srvhook.State): the assertion cannot fail.
	srvhook.Engine = func(s srvhook.Server) *jobserver.Server { return s.(*Server).srv() }
}

// srv returns the engine, building it at first use.
func (s *Server) srv() *jobserver.Server {
	s.srvOnce.Do(func() { s.srvEngine = jobserver.New(s.config()) })
	return s.srvEngine
}

// config is the engine's configuration: the Server's fields of the same
// names, which TestServerConfigCopied checks are all copied.
func (s *Server) config() jobserver.Config {
	var st store.Log
	if s.Store != nil {
		st = s.Store.log
	}
	return jobserver.Config{
		Store:                 st,
		HandlePrefix:          s.HandlePrefix,
		MaxPacketSize:         s.MaxPacketSize,
		MaxConnections:        s.MaxConnections,
		MaxQueue:              s.MaxQueue,
		MaxSpool:              s.MaxSpool,
		MaxSpoolTotal:         s.MaxSpoolTotal,
		MaxFunctionName:       s.MaxFunctionName,
		MaxClientID:           s.MaxClientID,
		JobRetries:            s.JobRetries,
		Retry:                 jobserver.RetryPolicy(s.RetryFailed),
		MaxDeadLetters:        s.MaxDeadLetters,
		HandshakeTimeout:      s.HandshakeTimeout,
		PacketTimeout:         s.PacketTimeout,
		Exceptions:            s.Exceptions,
		EnableShutdownCommand: s.EnableShutdownCommand,
		Version:               s.Version,
		TLSConfig:             s.TLSConfig,
		Logger:                s.Logger,
		Clock:                 srvhook.Clock(s),
		Observer:              srvhook.Observer(s),
	}
}

// ListenAndServe listens on [Server.Addr] and serves until
// [Server.Shutdown] or [Server.Close], then returns [ErrServerClosed].
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:4730"
	}
	if s.srv().Closing() {
		return ErrServerClosed
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each in its own goroutines. It
// returns [ErrServerClosed] after [Server.Shutdown] or [Server.Close], or
// the listener's error. Serve closes l when it returns. It may be called for
// several listeners.
func (s *Server) Serve(l net.Listener) error {
	return s.srv().Serve(l)
}

// ServeConn serves one connection that the caller accepted (or made with an
// in-memory transport) until it ends, and closes it. It blocks; call it in a
// goroutine of your own. [Server.Close] ends it. TLSConfig does not apply.
func (s *Server) ServeConn(c net.Conn) { s.srv().ServeConn(c) }

// Shutdown stops accepting connections and stops handing out jobs (new
// submits get ERROR SHUTDOWN_GRACEFUL), waits until every running job has
// ended or ctx is done, then closes like [Server.Close]. It returns ctx's
// error if ctx ended first. Queued jobs are lost unless kept in the Store.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv().Shutdown(ctx) }

// Close closes every listener and connection at once and returns after
// every goroutine of the server has ended, then closes the Store, if any,
// and returns its error. Jobs in memory only are lost. Close is
// idempotent.
func (s *Server) Close() error { return s.srv().Close() }

// Addrs returns the addresses of the listeners being served, for a server
// started on port 0.
func (s *Server) Addrs() []net.Addr { return s.srv().Addrs() }
