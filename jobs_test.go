package gearman_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

var reverseHandler = gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
	return reverse(p), nil
})

// recorder is a worker handler that records the payloads it gets.
type recorder struct {
	mu   sync.Mutex
	got  []string
	seen chan string
}

func newRecorder() *recorder { return &recorder{seen: make(chan string, 100)} }

func (r *recorder) Work(ctx context.Context, t *gearman.Task) error {
	p, err := io.ReadAll(t)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, string(p))
	r.mu.Unlock()
	r.seen <- string(p)
	_, err = t.Write(p)
	return err
}

func (r *recorder) wait(t *testing.T, ctx context.Context, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		select {
		case s := <-r.seen:
			out = append(out, s)
		case <-ctx.Done():
			t.Fatalf("worker got %q, want %d jobs: %v", out, n, ctx.Err())
		}
	}
	return out
}

func TestSubmitKinds(t *testing.T) {
	eachServer(t, testSubmitKinds)
}

func testSubmitKinds(t *testing.T, addr string) {
	ctx := testCtx(t)
	rec := newRecorder()
	w := dial(t, addr, nil)
	w.Register("rec", rec, nil)
	c := dial(t, addr, nil)
	for _, tc := range []struct {
		name string
		job  gearman.Job
	}{
		{"normal", gearman.Job{}},
		{"high", gearman.Job{Priority: gearman.High}},
		{"low", gearman.Job{Priority: gearman.Low}},
		{"unique", gearman.Job{Unique: "u-1"}},
		{"reduce", gearman.Job{Reducer: "sum"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := tc.job
			job.Func, job.Data = "rec", []byte("fg-"+tc.name)
			task, err := c.Submit(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(task.Handle(), "H:") {
				t.Errorf("handle %q", task.Handle())
			}
			got, err := task.Result(ctx)
			if err != nil || string(got) != "fg-"+tc.name {
				t.Fatalf("result %q, %v", got, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		job  gearman.Job
	}{
		{"bg-normal", gearman.Job{}},
		{"bg-high", gearman.Job{Priority: gearman.High}},
		{"bg-low", gearman.Job{Priority: gearman.Low}},
		{"bg-epoch", gearman.Job{At: time.Now().Add(-time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.wait(t, ctx, 0)
			job := tc.job
			job.Func, job.Data, job.Background = "rec", []byte(tc.name), true
			task, err := c.Submit(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if task.Handle() == "" {
				t.Fatal("background submit gave no handle")
			}
			select {
			case <-task.Done():
			default:
				t.Fatal("background task not done after submit")
			}
			for {
				if s := rec.wait(t, ctx, 1); s[0] == tc.name {
					break
				}
			}
		})
	}
}

func TestPriorityOrder(t *testing.T) {
	eachServer(t, testPriorityOrder)
}

func testPriorityOrder(t *testing.T, addr string) {
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	var want []string
	for _, p := range []gearman.Priority{gearman.Low, gearman.Normal, gearman.High} {
		for i := range 2 {
			name := fmt.Sprintf("%v%d", p, i)
			if _, err := c.Submit(ctx, gearman.Job{Func: "order", Data: []byte(name), Priority: p, Background: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want = []string{"high0", "high1", "normal0", "normal1", "low0", "low1"}
	rec := newRecorder()
	w := dial(t, addr, nil)
	w.Register("order", rec, nil)
	got := rec.wait(t, ctx, len(want))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order %q; want %q", got, want)
	}
}

func TestUniqueCoalesce(t *testing.T) {
	eachServer(t, testUniqueCoalesce)
}

func testUniqueCoalesce(t *testing.T, addr string) {
	ctx := testCtx(t)
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	w := dial(t, addr, nil)
	w.Register("slow", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		started <- struct{}{}
		<-release
		return append([]byte("done:"), p...), nil
	}), nil)
	c1, c2 := dial(t, addr, nil), dial(t, addr, nil)
	t1, err := c1.Submit(ctx, gearman.Job{Func: "slow", Unique: "same", Data: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	t2, err := c2.Submit(ctx, gearman.Job{Func: "slow", Unique: "same", Data: []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	if t1.Handle() != t2.Handle() {
		t.Errorf("handles %q and %q; want one job", t1.Handle(), t2.Handle())
	}
	close(release)
	for _, task := range []*gearman.Task{t1, t2} {
		got, err := task.Result(ctx)
		if err != nil || string(got) != "done:first" {
			t.Errorf("result %q, %v; want done:first", got, err)
		}
	}
	select {
	case <-started:
		t.Error("the job ran twice")
	default:
	}
}

func TestProgress(t *testing.T) {
	eachServer(t, testProgress)
}

func testProgress(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	step := make(chan struct{})
	w.Register("progress", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		if err := task.SetStatus(1, 2); err != nil {
			return err
		}
		task.Warn([]byte("careful"))
		task.Write([]byte("part1,"))
		<-step
		task.Write([]byte("part2,"))
		return nil
	}), nil)
	c := dial(t, addr, nil)
	task, err := c.Submit(ctx, gearman.Job{Func: "progress"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-task.Status():
		if s != (gearman.Status{Numerator: 1, Denominator: 2}) {
			t.Errorf("status %+v", s)
		}
	case <-ctx.Done():
		t.Fatal("no status")
	}
	select {
	case w := <-task.Warnings():
		if string(w) != "careful" {
			t.Errorf("warning %q", w)
		}
	case <-ctx.Done():
		t.Fatal("no warning")
	}
	st, err := c.JobStatus(ctx, task.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Known || !st.Running || st.Numerator != 1 || st.Denominator != 2 {
		t.Errorf("job status %+v", st)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(task, buf); err != nil || string(buf) != "part1," {
		t.Fatalf("first chunk %q, %v", buf, err)
	}
	close(step)
	got, err := task.Result(ctx)
	if err != nil || string(got) != "part2," {
		t.Fatalf("rest %q, %v; want part2,", got, err)
	}
}

func TestFailuresGearmand(t *testing.T) {
	for _, send := range []bool{false, true} {
		t.Run(fmt.Sprintf("SendExceptions=%v", send), func(t *testing.T) {
			testFailures(t, &gearman.Options{SendExceptions: send})
		})
	}
}

func testFailures(t *testing.T, opts *gearman.Options) {
	eachServer(t, func(t *testing.T, addr string) { testFailuresOn(t, addr, opts) })
}

func testFailuresOn(t *testing.T, addr string, opts *gearman.Options) {
	ctx := testCtx(t)
	w := dial(t, addr, opts)
	w.Register("fail", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, gearman.ErrJobFailed
	}), nil)
	w.Register("panic", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		panic("at the disco")
	}), nil)
	w.Register("reverse", reverseHandler, nil)
	c := dial(t, addr, nil)

	task, _ := c.Submit(ctx, gearman.Job{Func: "fail"})
	_, err := task.Result(ctx)
	var je *gearman.JobException
	if !errors.Is(err, gearman.ErrJobFailed) || errors.As(err, &je) {
		t.Errorf("fail: %v; want ErrJobFailed", err)
	}
	task, _ = c.Submit(ctx, gearman.Job{Func: "panic"})
	_, err = task.Result(ctx)
	if !errors.As(err, &je) || !strings.Contains(je.Message, "at the disco") || !errors.Is(err, gearman.ErrJobException) {
		t.Errorf("panic: %v; want an exception", err)
	}
	task, _ = c.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("still here")})
	if got, err := task.Result(ctx); err != nil || string(got) != "ereh llits" {
		t.Errorf("after panic: %q, %v", got, err)
	}
}

func TestEchoAndStatusGearmand(t *testing.T) {
	addr := peertest.Gearmand(t)
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	got, err := c.Echo(ctx, []byte("ping\x00pong"))
	if err != nil || string(got) != "ping\x00pong" {
		t.Fatalf("echo %q, %v", got, err)
	}
	task, err := c.Submit(ctx, gearman.Job{Func: "nobody", Unique: "u-q", Data: []byte("x"), Background: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.JobStatus(ctx, task.Handle())
	if err != nil || !st.Known || st.Running {
		t.Errorf("status %+v, %v; want known, not running", st, err)
	}
	us, err := c.UniqueStatus(ctx, "u-q")
	if err != nil || !us.Known || us.Unique != "u-q" {
		t.Errorf("unique status %+v, %v", us, err)
	}
	st, err = c.JobStatus(ctx, "H:nope:1")
	if err != nil || st.Known {
		t.Errorf("unknown job status %+v, %v", st, err)
	}
	if !c.Exceptions() {
		t.Error("gearmand agreed to exceptions; Exceptions() is false")
	}
	err = c.Option(ctx, "streaming")
	var se *gearman.ServerError
	if !errors.Is(err, gearman.ErrNotSupported) || !errors.As(err, &se) || se.Code != "UNKNOWN_OPTION" {
		t.Errorf("option streaming: %v; want ErrNotSupported UNKNOWN_OPTION", err)
	}
	if _, err := c.Echo(ctx, []byte("after")); err != nil {
		t.Errorf("echo after refused option: %v", err)
	}
}

func TestCancel(t *testing.T) {
	eachServer(t, testCancel)
}

func testCancel(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	w.Register("reverse", reverseHandler, nil)
	c := dial(t, addr, nil)
	short, cancel := context.WithCancel(ctx)
	task, err := c.Submit(short, gearman.Job{Func: "nobody-serves-this", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := task.Result(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled task: %v", err)
	}
	if _, err := c.Submit(short, gearman.Job{Func: "reverse"}); !errors.Is(err, context.Canceled) {
		t.Errorf("submit with a done context: %v", err)
	}
	// Result's own context ends first: the task goes on.
	task, _ = c.Submit(ctx, gearman.Job{Func: "nobody-serves-this"})
	quick, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := task.Result(quick); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("result with a short context: %v", err)
	}
	if task.Err() != nil {
		t.Errorf("task ended: %v", task.Err())
	}
	got, err := mustSubmit(t, ctx, c, "reverse", "abc").Result(ctx)
	if err != nil || string(got) != "cba" {
		t.Errorf("connection after cancel: %q, %v", got, err)
	}
}

func mustSubmit(t *testing.T, ctx context.Context, c *gearman.Conn, fn, data string) *gearman.Task {
	t.Helper()
	task, err := c.Submit(ctx, gearman.Job{Func: fn, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestCLIWorkerOurClient(t *testing.T) {
	gm := peertest.Require(t, "gearman")
	addr := peertest.Gearmand(t)
	h, p := peertest.HostPort(t, addr)
	peertest.Start(t, gm, "-h", h, "-p", p, "-w", "-f", "reverse", "--", "rev")
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	// rev reverses lines; the CLI worker may start after our submit.
	got, err := mustSubmit(t, ctx, c, "reverse", "hello").Result(ctx)
	if err != nil || strings.TrimSpace(string(got)) != "olleh" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCLIClientOurWorker(t *testing.T) {
	gm := peertest.Require(t, "gearman")
	addr := peertest.Gearmand(t)
	h, p := peertest.HostPort(t, addr)
	w := dial(t, addr, nil)
	w.Register("reverse", reverseHandler, nil)
	w.Register("fail", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, errors.New("no way")
	}), nil)
	out := peertest.Run(t, nil, 10*time.Second, gm, "-h", h, "-p", p, "-f", "reverse", "hello")
	if strings.TrimSpace(string(out)) != "olleh" {
		t.Errorf("CLI client got %q; want olleh", out)
	}
	out = peertest.Run(t, []byte("from stdin"), 10*time.Second, gm, "-h", h, "-p", p, "-f", "reverse")
	if strings.TrimSpace(string(out)) != "nidts morf" {
		t.Errorf("CLI client (stdin) got %q", out)
	}
	// The CLI client must learn of the failure, not wait until killed.
	start := time.Now()
	_, err := peertest.RunErr(nil, 8*time.Second, gm, "-h", h, "-p", p, "-f", "fail", "x")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("CLI client of a failing job: %v after %v; want a prompt failure", err, time.Since(start))
	}
}

func TestLargePayload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB through gearmand")
	}
	eachServer(t, testLargePayload)
}

func testLargePayload(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	w.Register("copy", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
		_, err := io.Copy(task, task)
		return err
	}), nil)
	c := dial(t, addr, nil)
	payload := make([]byte, 64<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>13)
	}
	task, err := c.Open(ctx, gearman.Job{Func: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(task, bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, task)
	if err != nil || n != int64(len(payload)) {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if !bytes.Equal(h.Sum(nil), sum(payload)) {
		t.Fatal("result differs from payload")
	}
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestConnLostGearmand(t *testing.T) {
	addr := peertest.Gearmand(t)
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	task := mustSubmit(t, ctx, c, "nobody", "x")
	// Stop the server under the connection.
	peertest.StopGearmand(t, addr)
	_, err := task.Result(ctx)
	if !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("got %v; want ErrConnLost", err)
	}
	<-c.Done()
	if _, err := c.Submit(ctx, gearman.Job{Func: "x"}); !errors.Is(err, gearman.ErrConnLost) {
		t.Errorf("submit on a lost connection: %v", err)
	}
}

func TestStopWork(t *testing.T) {
	eachServer(t, testStopWork)
}

func testStopWork(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, &gearman.Options{ClientID: "stopper"})
	started, release := make(chan struct{}), make(chan struct{})
	w.Register("hold", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		close(started)
		<-release
		return p, nil
	}), nil)
	c := dial(t, addr, nil)
	task := mustSubmit(t, ctx, c, "hold", "kept")
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- w.StopWork(ctx) }()
	select {
	case err := <-stopped:
		t.Fatalf("StopWork returned %v while a job runs", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); err != nil || string(got) != "kept" {
		t.Fatalf("running job after StopWork: %q, %v", got, err)
	}
	// No new grabs: a second job stays queued.
	second := mustSubmit(t, ctx, c, "hold", "queued")
	quick, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := second.Result(quick); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("job after StopWork: %v; want it left queued", err)
	}
}
