package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// shutdownGrace bounds how long a stopping worker waits for its running job.
const shutdownGrace = 5 * time.Second

// worker serves the -f functions until it is interrupted or has run -c jobs.
type worker struct {
	e      *env
	pool   *gearman.Pool
	mu     sync.Mutex
	left   int           // jobs (and -t idle waits) left before exiting; 0: no limit
	busy   bool          // a job is running
	enough chan struct{} // closed when left reaches zero
	once   sync.Once
	poke   chan struct{} // a job started or ended: restarts the idle timeout
	outMu  sync.Mutex    // our standard output, for the jobs of a worker without a command
}

// work runs the worker and returns the exit code.
func (e *env) work(ctx context.Context, pool *gearman.Pool) int {
	w := &worker{e: e, pool: pool, left: e.cfg.count, enough: make(chan struct{}), poke: make(chan struct{}, 1)}
	// The C tool sends the command's whole output in WORK_COMPLETE, and
	// some clients (Perl's, gearman-go's, gearmanode) read nothing else; -n,
	// -N and --stream send it as WORK_DATA as it is written.
	reg := &gearman.RegisterOptions{BufferResult: !e.cfg.stream && !e.cfg.perLine}
	for _, fn := range e.cfg.funcs {
		if err := pool.Register(fn, gearman.HandlerFunc(w.serve), reg); err != nil {
			e.errorf("gearman: gearman_worker_add_function : %v\n", err)
			pool.Close()
			return 1
		}
	}
	events := make(chan struct{})
	go func() { // report servers that cannot be reached, once each time
		defer close(events)
		down := map[string]bool{}
		for {
			select {
			case ev := <-pool.Events():
				switch ev.Kind {
				case gearman.DialFailed, gearman.Down:
					if !down[ev.Addr] {
						down[ev.Addr] = true
						e.errorf("gearman: gearman_worker_work : Connection to %s failed: %v\n", ev.Addr, ev.Err)
					}
				case gearman.Up:
					down[ev.Addr] = false
				}
			case <-w.enough:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	if e.cfg.hasTimeout {
		go w.idle(ctx)
	}
	select {
	case <-ctx.Done():
	case <-w.enough:
	}
	w.stop()
	w.once.Do(func() { close(w.enough) })
	<-events
	return 0
}

// stop stops taking jobs, lets the running one end (for a few seconds at
// most), and closes the pool once the servers have its result: Pool.Shutdown
// alone may close a connection before the last WORK_COMPLETE has left.
func (w *worker) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, fn := range w.e.cfg.funcs {
		w.pool.Unregister(fn)
	}
	for ctx.Err() == nil {
		w.mu.Lock()
		busy := w.busy
		w.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.pool.Echo(ctx) // answered once what went before it has reached the server
	w.pool.Shutdown(ctx)
}

// idle prints a message each time no job has come for -t, and counts the
// wait as a job, as the C tool does.
func (w *worker) idle(ctx context.Context) {
	t := time.NewTimer(w.e.cfg.timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.enough:
			return
		case <-w.poke:
			t.Reset(w.e.cfg.timeout)
		case <-t.C:
			w.mu.Lock()
			busy := w.busy
			w.mu.Unlock()
			if !busy {
				w.e.errorf("gearman: gearman_worker_work : gearman_wait(GEARMAN_TIMEOUT) timeout reached after %v\n", w.e.cfg.timeout)
				w.done()
			}
			t.Reset(w.e.cfg.timeout)
		}
	}
}

// done counts one job, and stops taking jobs after the last one.
func (w *worker) done() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.left <= 0 {
		return
	}
	w.left--
	if w.left == 0 {
		w.once.Do(func() { close(w.enough) })
	}
}

func (w *worker) setBusy(b bool) {
	w.mu.Lock()
	w.busy = b
	w.mu.Unlock()
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// serve runs one job, and ends it itself (WORK_COMPLETE or WORK_FAIL)
// before it counts it, so that stop sees the job's end queued.
func (w *worker) serve(ctx context.Context, t *gearman.Task) error {
	w.setBusy(true)
	defer w.setBusy(false)
	var err error
	if len(w.e.cfg.args) == 0 {
		// No command: the payload goes to our standard output, the result
		// is empty.
		w.outMu.Lock()
		_, err = io.Copy(writerFunc(func(p []byte) (int, error) { return len(p), w.e.out.data("", p) }), t)
		w.outMu.Unlock()
	} else {
		err = w.runCommand(ctx, t)
	}
	if err != nil {
		t.CloseWithError(err)
	} else {
		t.Close()
	}
	w.done()
	return nil
}

// runCommand runs the command with the payload on its standard input and
// its standard output as the result, both streamed.
func (w *worker) runCommand(ctx context.Context, t *gearman.Task) error {
	args := w.e.cfg.args
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = w.e.stderr
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		w.e.errorf("gearman: execvp: %v\n", err)
		return fmt.Errorf("%v: %w", err, gearman.ErrJobFailed)
	}
	var in io.Writer = stdin
	var out io.Writer = t
	if !w.e.cfg.stream && !w.e.cfg.perLine {
		out = &spill{t: t, limit: spillAt}
	}
	if p := w.e.prog; p != nil {
		in, out = p.receiving(stdin), p.sending(t)
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		io.Copy(in, t) // a command that stops reading ends this with EPIPE
		stdin.Close()
	}()
	var copyErr error
	if w.e.cfg.perLine {
		copyErr = w.sendLines(out, stdout)
	} else {
		_, copyErr = io.Copy(out, stdout)
	}
	if copyErr != nil {
		io.Copy(io.Discard, stdout) // let the command finish
	}
	err = cmd.Wait()
	<-fed
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case copyErr != nil:
		return copyErr
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %v: %w", args[0], err, gearman.ErrJobFailed)
		}
		return err
	}
	return nil
}

// sendLines sends the command's output one line per WORK_DATA packet (a
// line longer than the buffer in several), stripped of its newline with -N.
func (w *worker) sendLines(out io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if w.e.cfg.strip && len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			if _, werr := out.Write(line); werr != nil {
				return werr
			}
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return nil
		default:
			return err
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// spillAt is how much of a command's output the worker holds for
// WORK_COMPLETE before it streams the rest.
const spillAt = 1 << 20

// spill writes a command's output to a task that holds it for WORK_COMPLETE
// (which every client reads, as from the C tool) until it passes limit
// bytes; then it flushes what it held and streams the rest as WORK_DATA, so
// an output of any size never sits whole in memory.
type spill struct {
	t       *gearman.Task
	limit   int
	n       int
	flushed bool
}

func (s *spill) Write(p []byte) (int, error) {
	s.n += len(p)
	if !s.flushed && s.n > s.limit {
		s.flushed = true
		if err := s.t.Flush(); err != nil {
			return 0, err
		}
	}
	return s.t.Write(p)
}
