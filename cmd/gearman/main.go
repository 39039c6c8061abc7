// Command gearman submits jobs to Gearman job servers and serves them, as the
// gearman tool of gearman-tools (gearmand 1.1.20) does, with the same options
// and, where they mean the same, the same output and exit codes.
//
//	gearman [-h host] [-p port] -f FUNC [options] [DATA ...]      # client
//	gearman [-h host] [-p port] -w -f FUNC [options] [-- COMMAND [ARGS ...]]  # worker
//
// As a client it submits each DATA argument as a job to every -f function
// in turn, or, with no DATA, its standard input: whole as one job, one job
// per line with -n (-N strips the newline), or an empty job with -s. The
// result goes to standard output as it arrives, warnings to standard error;
// a failed job prints "Job failed" on standard error and makes the exit
// code 1. -b submits background jobs, -I and -L high and low priority ones,
// -u gives every job that unique id, -P prefixes each piece of output with
// the function's name, -v prints "Task created: HANDLE" for each job;
// -v -v also dumps every packet sent and received on standard error, and
// -v -v -v the first 64 bytes of their data.
//
// As a worker it registers every -f function and runs COMMAND for each job,
// with the payload streamed to its standard input as it arrives and its
// standard output as the result. Like the C tool it sends the whole output
// in WORK_COMPLETE, which every client reads (Perl's Gearman::Client,
// gearmanode and gearman-go read nothing else); with -n or -N it sends each
// line as a WORK_DATA packet as the command writes it (stripped of its
// newline with -N), and with --stream (an option of ours) each piece of
// output as a WORK_DATA packet, so that nothing is held whole. A command
// that exits non-zero fails the job (WORK_FAIL, after the output it wrote
// when that was streamed).
// Without a command the worker writes each payload to its own standard
// output and completes the job with an empty result. -c N exits after N
// jobs. SIGINT and SIGTERM stop it gracefully: the running job may finish
// within a few seconds.
//
// -t is an idle timeout in milliseconds: a client job that hears nothing for
// that long is given up, with a message; a worker that gets no job for that
// long prints a message, and the wait counts as one of the -c jobs. -i writes
// the process id to a file, removed at exit. -S makes the connections TLS,
// verified against the system's roots. When standard error is a terminal,
// a transfer that lasts more than a second shows the bytes sent and received
// there.
//
// It differs from the C tool deliberately:
//   - Every -h is a job server, and all form one pool (jobs go round-robin
//     to the servers that are up; a worker serves all of them). A -h may
//     carry its own port ("host:port"); -p is the port of the others. The
//     C tool uses only the last -h.
//   - Errors that the C tool reports with exit code 0 (no server reachable,
//     a timeout) make the exit code 1. Their messages start as the C tool's
//     do but carry no libgearman source location or pid.
//   - A client sends no unique id unless -u gives one (libgearman makes up
//     a UUID for each job).
//   - -n and -N read lines of any length (the C tool cuts them at 8 KiB);
//     -N strips a newline only (the C tool drops the last byte of a last
//     line that has none). A -n worker sends each line once (the C tool
//     1.1.20 resends all the lines so far with each line).
//   - -P prefixes each piece of the result as it is read, not each packet;
//     the C tool's output is the same for results of one packet.
//   - A command that fails without -n, -N or --stream fails the job with
//     nothing before WORK_FAIL (the C tool sends its output as WORK_DATA
//     first): the library cannot yet send a held result as WORK_DATA.
//   - --stream is ours; the C tool has no way to stream a result that is
//     not made of lines.
//   - A worker's command killed by a signal fails the job (the C tool
//     completes it), and a worker that cannot reach a server waits and
//     redials with backoff instead of spinning.
//   - -d (the C tool's undocumented daemon mode) is not supported.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/seed749d6d6d/gearman"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a run reads and writes.
type env struct {
	cfg    *config
	stdin  io.Reader
	out    *stdio // standard output
	stderr io.Writer
	errMu  sync.Mutex
	prog   *progress // nil unless standard error is a terminal
}

// run is the gearman command with its arguments (args[0] is the program's
// name) and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := parse(args[1:])
	if why := cfg.usageError(); why != "" || cfg.help {
		w := stdout
		if why != "" {
			w = stderr
		}
		printUsage(w, args[0], why, cfg)
		if cfg.help {
			return 0
		}
		return 1
	}
	if cfg.pidFile != "" {
		if err := os.WriteFile(cfg.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "gearman: could not open pid file %s: %v\n", cfg.pidFile, err)
			return 1
		}
		defer os.Remove(cfg.pidFile)
	}
	e := &env{cfg: cfg, stdin: stdin, out: newStdio(stdout), stderr: stderr}
	defer e.out.flush()
	if isTerminal(stderr) {
		e.prog = newProgress(stderr, &e.errMu)
		defer e.prog.stop()
	}
	// Stream where the server can (ours): a payload of any size then flows
	// in chunks with flow control. A streaming connection refuses
	// foreground jobs with a unique id, so -u keeps the plain mode.
	opts := &gearman.PoolOptions{Options: gearman.Options{PreferStreaming: cfg.worker || cfg.unique == ""}}
	if cfg.tls {
		opts.TLSConfig = &tls.Config{}
	}
	if cfg.verbose >= 2 {
		opts.Trace = e.dumpTrace(cfg.verbose >= 3)
	}
	pool, err := gearman.NewPool(cfg.addrs(), opts)
	if err != nil {
		fmt.Fprintf(stderr, "gearman: %v\n", err)
		return 1
	}
	if cfg.worker {
		return e.work(ctx, pool)
	}
	defer pool.Close()
	return e.client(ctx, pool)
}

// errorf prints a line on standard error.
func (e *env) errorf(format string, args ...any) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	fmt.Fprintf(e.stderr, format, args...)
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// stdio reproduces the C tool's two ways of writing standard output, so that
// the bytes come out in the same order: results are written at once (write
// on the file descriptor) while diagnostics ("Task created", "% Complete")
// are buffered, as C's stdio does for a file or a pipe, until the buffer
// fills, a prefix is printed (the C tool flushes after it), or the program
// ends. On a terminal the diagnostics are line-buffered.
type stdio struct {
	mu  sync.Mutex
	w   io.Writer
	buf *bufio.Writer
	tty bool
}

func newStdio(w io.Writer) *stdio {
	return &stdio{w: w, buf: bufio.NewWriterSize(w, 4096), tty: isTerminal(w)}
}

// printf writes a buffered diagnostic.
func (s *stdio) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.buf, format, args...)
	if s.tty {
		s.buf.Flush()
	}
}

// data writes result bytes at once, after prefix (flushed with the buffered
// diagnostics) when prefix is not empty.
func (s *stdio) data(prefix string, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prefix != "" {
		s.buf.WriteString(prefix)
		if err := s.buf.Flush(); err != nil {
			return err
		}
	}
	if len(p) == 0 {
		return nil
	}
	_, err := s.w.Write(p)
	return err
}

func (s *stdio) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Flush()
}
