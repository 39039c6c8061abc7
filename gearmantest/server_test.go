package gearmantest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// testCtx bounds a test that could hang on a bug.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// submit submits job and returns its result.
func submit(t *testing.T, ctx context.Context, p *gearman.Pool, job gearman.Job) ([]byte, error) {
	t.Helper()
	task, err := p.Submit(ctx, job)
	if err != nil {
		t.Fatalf("submit %s: %v", job.Func, err)
	}
	return task.Result(ctx)
}

// upper is a streaming handler under test: it upper-cases the payload as
// it reads it.
func upper(ctx context.Context, task *gearman.Task) error {
	buf := make([]byte, 4)
	for {
		n, err := task.Read(buf)
		if n > 0 {
			if _, werr := task.Write(bytes.ToUpper(buf[:n])); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// A handler under test runs on a pool of the server; the test submits
// through another.
func TestHandlerUnderTest(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	workers := srv.Pool(nil)
	if err := workers.Register("upper", gearman.HandlerFunc(upper), nil); err != nil {
		t.Fatal(err)
	}
	clients := srv.Pool(nil)
	got, err := submit(t, ctx, clients, gearman.Job{Func: "upper", Data: []byte("hello, gearman")})
	if err != nil || string(got) != "HELLO, GEARMAN" {
		t.Fatalf("got %q, %v; want HELLO, GEARMAN", got, err)
	}
	// Streamed both ways.
	task, err := clients.Open(ctx, gearman.Job{Func: "upper"})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(task, strings.NewReader(strings.Repeat("ab", 1000)))
	task.Close()
	out, err := io.ReadAll(task)
	if err != nil || string(out) != strings.Repeat("AB", 1000) {
		t.Fatalf("streamed: %d bytes, %v", len(out), err)
	}
}

func TestDialAndAdmin(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Echo(ctx, []byte("ping")); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	task, err := c.Submit(ctx, gearman.Job{Func: "echo", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); err != nil || string(got) != "x" {
		t.Fatalf("job: %q, %v", got, err)
	}
	admin, err := gearman.DialAdmin(ctx, srv.Addr(), &gearman.AdminOptions{DialContext: srv.DialContext})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	st, err := admin.Status(ctx)
	if err != nil || len(st) != 1 || st[0].Function != "echo" || st[0].Workers != 1 {
		t.Fatalf("admin status: %+v, %v", st, err)
	}
	if _, err := srv.DialContext(ctx, "tcp", "127.0.0.1:4730"); err == nil {
		t.Error("DialContext of another address succeeded")
	}
}

func TestTCPServer(t *testing.T) {
	srv := gearmantest.NewTCPServer(t)
	ctx := testCtx(t)
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr %q; want a loopback address", srv.Addr())
	}
	srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	c, err := gearman.Dial(ctx, srv.Addr(), nil) // a plain TCP dial
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	task, err := c.Submit(ctx, gearman.Job{Func: "echo", Data: []byte("tcp")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); err != nil || string(got) != "tcp" {
		t.Fatalf("job: %q, %v", got, err)
	}
	srv.Refuse(-1)
	if c, err := gearman.Dial(ctx, srv.Addr(), nil); err == nil {
		c.Close()
		t.Fatal("dial succeeded while the server refuses")
	}
	srv.Refuse(0)
	c2, err := gearman.Dial(ctx, srv.Addr(), nil)
	if err != nil {
		t.Fatalf("dial after Refuse(0): %v", err)
	}
	c2.Close()
}

// The real server's configuration applies.
func TestConfig(t *testing.T) {
	srv := gearmantest.NewServerWith(t, &gearmantest.Config{Server: &gearman.Server{MaxQueue: 1, HandlePrefix: "H:cfg"}})
	ctx := testCtx(t)
	p := srv.Pool(nil)
	task, err := p.Submit(ctx, gearman.Job{Func: "f", Background: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(task.Handle(), "H:cfg:") {
		t.Errorf("handle %q; want the prefix H:cfg:", task.Handle())
	}
	_, err = p.Submit(ctx, gearman.Job{Func: "f", Background: true})
	var se *gearman.ServerError
	if !errors.As(err, &se) || se.Code != "QUEUE_ERROR" {
		t.Fatalf("second submit: %v; want QUEUE_ERROR", err)
	}
	if srv.Server().MaxQueue != 1 {
		t.Error("Server() is not the configured server")
	}
}

func TestStartAndClose(t *testing.T) {
	srv := gearmantest.Start()
	p := srv.Pool(nil)
	srv.HandleFunc("f", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	ctx := testCtx(t)
	if _, err := submit(t, ctx, p, gearman.Job{Func: "f"}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close() // idempotent
	if _, err := p.Submit(ctx, gearman.Job{Func: "f"}); !errors.Is(err, gearman.ErrClosed) {
		t.Errorf("submit after Close: %v; want ErrClosed", err)
	}
	if err := srv.WaitFor(ctx, func(*gearmantest.Server) bool { return false }); !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("WaitFor after Close: %v; want ErrServerClosed", err)
	}
}

// Close waits for a handler that is still running, after cancelling its
// context.
func TestCloseCancelsHandlers(t *testing.T) {
	srv := gearmantest.Start()
	started, ended := make(chan struct{}), make(chan struct{})
	srv.HandleFunc("block", func(ctx context.Context, b []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		close(ended)
		return nil, ctx.Err()
	})
	p := srv.Pool(nil)
	if _, err := p.Submit(testCtx(t), gearman.Job{Func: "block", Background: true}); err != nil {
		t.Fatal(err)
	}
	<-started
	srv.Close()
	select {
	case <-ended:
	default:
		t.Fatal("Close returned before the handler")
	}
}

// fakeT is a Tester from another test framework.
type fakeT struct {
	mu       sync.Mutex
	ctx      context.Context
	cleanups []func()
	fatals   []string
}

func (f *fakeT) Helper()                  {}
func (f *fakeT) Context() context.Context { return f.ctx }
func (f *fakeT) Logf(string, ...any)      {}
func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func TestTester(t *testing.T) {
	ft := &fakeT{ctx: t.Context()}
	srv := gearmantest.NewServer(ft)
	if len(ft.cleanups) != 1 {
		t.Fatalf("%d cleanups registered; want 1", len(ft.cleanups))
	}
	srv.Pool(nil)
	ft.cleanups[0]()
	srv.Pool(nil) // after Close: a failure, reported
	if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], "after Close") {
		t.Errorf("failures %q; want one about Pool after Close", ft.fatals)
	}
}
