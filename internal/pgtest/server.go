package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Timeouts of the helpers that take no context: starting a server (initdb
// and the first start) for [Own] and [Start], and stopping one in a cleanup.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
)

// Server is a PostgreSQL server that this process started and owns: one
// postmaster on 127.0.0.1:[Server.Addr] with its data directory, which
// [Server.Stop], [Server.Start], [Server.Restart] and [Server.Crash]
// control. Its data and port stay the same across restarts. Its methods are
// safe for concurrent use; the control methods run one at a time.
type Server struct {
	in       install
	dir      string   // owned by the server's user; removed by close
	settings []string // -c name=value, as given to Own
	port     int

	mu  sync.Mutex
	cmd *exec.Cmd // the running postmaster; nil when stopped
}

// Own starts a PostgreSQL server for t alone, with a database "gearman"
// ([Server.URL]), and stops it (fast shutdown) and removes its files when t
// ends. It skips t when PostgreSQL is not installed (fails it under
// CI=true). $GEARMAN_TEST_POSTGRES does not apply: Own starts the installed
// binaries, as only a server of its own can be stopped and started.
//
// Each setting is "name=value", a server setting for its command line
// (postgres -c name=value), such as "fsync=off"; without any the server has
// PostgreSQL's defaults (fsync on, synchronous_commit on).
func Own(t testing.TB, settings ...string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := newServer(ctx, settings)
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the end of the server log %s:\n%s", s.LogPath(), s.logTail(30))
		}
		if err := s.close(); err != nil {
			t.Error(err)
		}
	})
	if err := createDatabase(ctx, s.adminURL(), "gearman"); err != nil {
		t.Fatal(err)
	}
	return s
}

// newServer runs initdb in a fresh directory and starts the server on a
// free port (another one, up to three times, when the port was taken in
// between).
func newServer(ctx context.Context, settings []string) (*Server, error) {
	for _, kv := range settings {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("pgtest: setting %q is not name=value", kv)
		}
	}
	in, err := findInstall()
	if err != nil {
		return nil, err
	}
	dir, err := in.mkdir()
	if err != nil {
		return nil, err
	}
	s := &Server{in: in, dir: dir, settings: settings}
	initdb := s.command(filepath.Join(in.bin, "initdb"), "-D", s.dataDir(), "-A", "trust", "-U", "postgres",
		"--no-sync", "--locale=C", "--encoding=UTF8")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb in %s: %w\n%s", dir, err, out)
	}
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.Start(ctx)
		}
		if err == nil || attempt == 3 || !strings.Contains(s.logTail(5), "could not bind") {
			break
		}
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// URL is the URL of database "gearman" on s, which [Own] created.
func (s *Server) URL() string { return s.url("gearman") }

// Addr is the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// LogPath is the file the server writes its log to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "log") }

// Pid is the postmaster's process id, 0 while the server is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start starts the stopped server again on the same port and data, and
// returns once it accepts connections (after crash recovery, following
// [Server.Crash]). It does nothing when the server is running.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: server log: %w", err)
	}
	defer log.Close() // the child has its own copy
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	cmd := s.command(filepath.Join(s.in.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Our own process group, so that a ^C on the terminal reaches only
	// the tests, which stop the server; and SIGINT (a fast shutdown) when
	// this process dies without its cleanups.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres on %s: %w", s.Addr(), err)
	}
	s.cmd = cmd
	if err := s.waitReady(ctx); err != nil {
		cmd.Process.Signal(syscall.SIGQUIT)
		s.waitExit(context.Background(), cmd)
		s.cmd = nil
		return err
	}
	return nil
}

// Stop shuts the server down fast, as pg_ctl stop -m fast does: it
// disconnects every client, aborts their transactions, writes a
// checkpoint, and returns once the postmaster has exited. Clients then get
// connection refused. It does nothing when the server is stopped.
func (s *Server) Stop(ctx context.Context) error { return s.stop(ctx, syscall.SIGINT) }

// Crash shuts the server down at once, as a crash would: no checkpoint,
// every backend told to quit (SIGQUIT, PostgreSQL's immediate shutdown), so
// that the next [Server.Start] replays the WAL. What was committed survives;
// nothing else does. It does nothing when the server is stopped.
func (s *Server) Crash(ctx context.Context) error { return s.stop(ctx, syscall.SIGQUIT) }

// Restart stops the server fast ([Server.Stop]) and starts it again
// ([Server.Start]).
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Database creates a fresh database on s for t and returns its URL; it is
// dropped when t ends, if the server is up then.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	return newDatabase(t, s.adminURL(), func() bool { return s.Pid() != 0 })
}

func (s *Server) stop(ctx context.Context, sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: stop postgres pid %d: %w", s.cmd.Process.Pid, err)
	}
	if err := s.waitExit(ctx, s.cmd); err != nil {
		return err
	}
	s.cmd = nil
	return nil
}

// close stops the server (SIGKILL if a fast shutdown takes longer than
// stopTimeout) and removes its directory.
func (s *Server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := s.Stop(ctx)
	if err != nil {
		s.mu.Lock()
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
		s.mu.Unlock()
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("pgtest: remove the server's files: %w", rmErr))
	}
	return err
}

// waitReady returns once the server takes a connection, or with the end of
// its log when it exits first or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	pid := s.cmd.Process.Pid
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgconn.Connect(cctx, s.adminURL())
		cancel()
		if err == nil {
			return c.Close(ctx)
		}
		if exited(pid) {
			return fmt.Errorf("pgtest: postgres on %s exited at start; the end of %s:\n%s", s.Addr(), s.LogPath(), s.logTail(10))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres on %s not ready: %w (last: %v); the end of %s:\n%s", s.Addr(), ctx.Err(), err, s.LogPath(), s.logTail(10))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitExit waits until cmd has exited, then reaps it. On ctx's end it
// returns an error and leaves cmd running.
func (s *Server) waitExit(ctx context.Context, cmd *exec.Cmd) error {
	for !exited(cmd.Process.Pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres pid %d on %s did not exit: %w", cmd.Process.Pid, s.Addr(), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Wait() // its exit status is a signal's or an error's; the log says which
	return nil
}

// command is name args run as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.in.cred}
	return cmd
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// adminURL is the URL of the maintenance database, where databases are
// created and dropped.
func (s *Server) adminURL() string { return s.url("postgres") }

func (s *Server) url(db string) string {
	return "postgres://postgres@" + s.Addr() + "/" + db + "?sslmode=disable"
}

// logTail is the last n lines of the server log.
func (s *Server) logTail(n int) string {
	b, _ := os.ReadFile(s.LogPath())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort is a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
