package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// client submits the jobs and prints their results; it returns the exit
// code: 1 when a job failed or could not run.
func (e *env) client(ctx context.Context, pool *gearman.Pool) int {
	if err := e.waitServer(ctx, pool); err != nil {
		e.errorf("gearman: gearman_client_run_tasks : %v\n", err)
		return 1
	}
	code := 0
	runJob := func(payload io.Reader) bool {
		b := e.start(ctx, pool)
		if b == nil {
			code = 1
			return false
		}
		b.write(payload)
		if b.finish() {
			code = 1
		}
		return ctx.Err() == nil
	}
	switch {
	case len(e.cfg.args) > 0:
		for _, a := range e.cfg.args {
			if !runJob(strings.NewReader(a)) {
				break
			}
		}
	case e.cfg.suppress:
		runJob(strings.NewReader(""))
	case e.cfg.perLine:
		if e.lines(ctx, pool) {
			code = 1
		}
	default:
		runJob(e.stdin)
	}
	if ctx.Err() != nil {
		return 1
	}
	return code
}

// lines submits one job per line of standard input (-n, -N), streaming
// each line into its job, however long it is.
func (e *env) lines(ctx context.Context, pool *gearman.Pool) (failed bool) {
	r := bufio.NewReaderSize(e.stdin, 64<<10)
	for ctx.Err() == nil {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) == 0 && err != nil {
			return failed
		}
		b := e.start(ctx, pool)
		if b == nil {
			return true
		}
		for {
			if e.cfg.strip && len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
				chunk = chunk[:len(chunk)-1]
			}
			b.write(bytes.NewReader(chunk))
			if err != bufio.ErrBufferFull {
				break
			}
			chunk, err = r.ReadSlice('\n')
		}
		if b.finish() {
			failed = true
		}
		if err != nil {
			return failed
		}
	}
	return failed
}

// waitServer waits until one of the pool's servers is up, and fails when
// every one of them has failed to connect (or -t ends first).
func (e *env) waitServer(ctx context.Context, pool *gearman.Pool) error {
	if len(pool.Live()) > 0 {
		return nil
	}
	var timeout <-chan time.Time
	if e.cfg.hasTimeout {
		tm := time.NewTimer(e.cfg.timeout)
		defer tm.Stop()
		timeout = tm.C
	}
	failed := map[string]error{}
	for {
		select {
		case ev := <-pool.Events():
			switch ev.Kind {
			case gearman.Up:
				return nil
			case gearman.DialFailed:
				failed[ev.Addr] = ev.Err
				if len(failed) == len(pool.Addrs()) {
					var errs []error
					for _, a := range pool.Addrs() {
						errs = append(errs, fmt.Errorf("flush(GEARMAN_COULD_NOT_CONNECT) Connection to %s failed: %w", a, failed[a]))
					}
					return errors.Join(errs...)
				}
			}
		case <-timeout:
			return errors.New("gearman_wait(GEARMAN_TIMEOUT) timeout reached, no servers were available")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// batch is one payload submitted to every -f function at once, as the C
// tool's gearman_client_run_tasks does.
type batch struct {
	e      *env
	ctx    context.Context
	cancel context.CancelFunc
	tasks  []*gearman.Task
	w      io.Writer // every task's payload
	idle   *time.Timer
	expire chan struct{} // closed when the idle timeout fired
	once   sync.Once     // prints the timeout once

	// The results are read from the start, while the payload is written:
	// a streaming server relays the payload only as fast as the result is
	// read, so writing it all first would deadlock.
	collectors sync.WaitGroup
	failed     atomic.Bool
}

// start opens one task per function, or prints why it cannot and returns
// nil.
func (e *env) start(ctx context.Context, pool *gearman.Pool) *batch {
	b := &batch{e: e, expire: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(ctx)
	if e.cfg.hasTimeout {
		b.idle = time.AfterFunc(e.cfg.timeout, func() { close(b.expire); b.cancel() })
	}
	var ws []io.Writer
	for _, fn := range e.cfg.funcs {
		t, err := pool.Open(b.ctx, gearman.Job{
			Func:       fn,
			Unique:     e.cfg.unique,
			Priority:   e.cfg.priority,
			Background: e.cfg.background,
		})
		if err != nil {
			b.report(err)
			b.stop()
			return nil
		}
		b.tasks = append(b.tasks, t)
		ws = append(ws, t)
	}
	b.w = io.MultiWriter(ws...)
	if e.prog != nil {
		b.w = e.prog.sending(b.w)
	}
	for _, t := range b.tasks {
		b.collectors.Go(func() {
			if !b.collect(t) {
				b.failed.Store(true)
			}
		})
	}
	return b
}

// write adds to the payload.
func (b *batch) write(r io.Reader) {
	if _, err := io.Copy(b.w, r); err != nil && b.ctx.Err() == nil {
		b.e.errorf("gearman: gearman_client_add_task : %v\n", err)
	}
}

// finish submits the jobs, prints what they send back, and reports whether
// one of them failed.
func (b *batch) finish() (failed bool) {
	defer b.stop()
	for _, t := range b.tasks {
		if err := t.Close(); err != nil {
			b.report(err)
			b.stop() // ends the other tasks, and so their collectors
			b.collectors.Wait()
			return true
		}
	}
	b.collectors.Wait()
	return b.failed.Load()
}

func (b *batch) stop() {
	if b.idle != nil {
		b.idle.Stop()
	}
	b.cancel()
}

// poke restarts the idle timeout.
func (b *batch) poke() {
	if b.idle != nil {
		b.idle.Reset(b.e.cfg.timeout)
	}
}

// prefix is what -P prints before a piece of t's output.
func (b *batch) prefix(t *gearman.Task) string {
	if b.e.cfg.prefix {
		return t.Func() + ": "
	}
	return ""
}

// collect prints one task's result, warnings and status, and reports
// whether it completed.
func (b *batch) collect(t *gearman.Task) bool {
	e, pre := b.e, b.prefix(t)
	side := make(chan string, 1) // the last warning printed, when the task is done
	// The handle goes out (-v) before any of the result, as the C tool
	// prints them, however the two goroutines are scheduled.
	announced := make(chan struct{})
	go func() { side <- b.watch(t, announced) }()
	if e.cfg.background {
		<-t.Done()
		lastWarn := <-side
		return b.ended(t, t.Err(), lastWarn)
	}
	buf := make([]byte, 32<<10)
	var total int64
	var err error
	for {
		var n int
		n, err = t.Read(buf)
		if n > 0 {
			<-announced
			b.poke()
			total += int64(n)
			if e.prog != nil {
				e.prog.received(n)
			}
			if werr := e.out.data(pre, buf[:n]); werr != nil {
				e.errorf("gearman: write: %v\n", werr)
				b.cancel()
			}
		}
		if err != nil {
			break
		}
	}
	<-t.Done()
	lastWarn := <-side
	if err == io.EOF {
		if total == 0 && pre != "" {
			e.out.data(pre, nil) // the C tool prints it for the empty WORK_COMPLETE
		}
		return true
	}
	return b.ended(t, err, lastWarn)
}

// watch prints t's handle (-v), warnings and progress until t is done, and
// returns the last warning. It closes announced once the handle is printed
// (or would have been).
func (b *batch) watch(t *gearman.Task, announced chan struct{}) string {
	e, pre := b.e, b.prefix(t)
	created := t.Created()
	announce := func() {
		if e.cfg.verbose > 0 && t.Handle() != "" {
			e.out.printf("Task created: %s\n", t.Handle())
		}
		close(announced)
	}
	var last string
	warn := func(w []byte) {
		last = string(w)
		e.errMu.Lock()
		io.WriteString(e.stderr, pre)
		e.stderr.Write(w)
		e.errMu.Unlock()
	}
	for {
		select {
		case <-created:
			created = nil
			announce()
		case w := <-t.Warnings():
			b.poke()
			warn(w)
		case s := <-t.Status():
			b.poke()
			if s.Denominator != 0 {
				e.out.printf("%s%d%% Complete\n", pre, s.Numerator*100/s.Denominator)
			}
		case <-t.Done():
			if created != nil {
				announce() // a background job is created and done at once
			}
			for {
				select {
				case w := <-t.Warnings():
					warn(w)
				default:
					return last
				}
			}
		}
	}
}

// ended reports how a task ended, and whether it completed.
func (b *batch) ended(t *gearman.Task, err error, lastWarn string) bool {
	if err == nil || err == io.EOF {
		return true
	}
	pre := b.prefix(t)
	var je *gearman.JobException
	switch {
	case errors.As(err, &je):
		if je.Message != lastWarn {
			b.e.errorf("%s%s", pre, je.Message)
		}
		b.e.errorf("%sJob failed\n", pre)
	case errors.Is(err, gearman.ErrJobFailed):
		b.e.errorf("%sJob failed\n", pre)
	default:
		b.report(err)
	}
	return false
}

// report prints why a task could not run.
func (b *batch) report(err error) {
	select {
	case <-b.expire:
		b.once.Do(func() {
			b.e.errorf("gearman: gearman_client_run_tasks : gearman_wait(GEARMAN_TIMEOUT) timeout reached after %v\n", b.e.cfg.timeout)
		})
		return
	default:
	}
	if b.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // interrupted
	}
	b.e.errorf("gearman: gearman_client_run_tasks : %v\n", err)
}
