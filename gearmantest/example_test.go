package gearmantest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// shout is a handler under test: it upper-cases the payload.
func shout(ctx context.Context, task *gearman.Task) error {
	payload, err := io.ReadAll(task)
	if err != nil {
		return err
	}
	if len(payload) == 0 {
		return errors.New("nothing to shout")
	}
	_, err = task.Write(bytes.ToUpper(payload))
	return err
}

// Testing a handler: the server runs it on its own worker, and the test
// submits jobs to it as a client would.
func Example_handler() {
	srv := gearmantest.Start() // in a test: gearmantest.NewServer(t)
	defer srv.Close()
	srv.Handle("shout", gearman.HandlerFunc(shout))

	ctx := context.Background()
	pool := srv.Pool(nil)
	for _, in := range []string{"hello", ""} {
		task, err := pool.Submit(ctx, gearman.Job{Func: "shout", Data: []byte(in)})
		if err != nil {
			fmt.Println(err)
			return
		}
		out, err := task.Result(ctx)
		fmt.Printf("%q %v\n", out, err)
	}
	// Output:
	// "HELLO" <nil>
	// "" gearman: job H:gearmantest:2 exception: nothing to shout
}

// thumbnail is code under test that submits jobs: it asks the "resize"
// workers for a thumbnail, urgently.
func thumbnail(ctx context.Context, pool *gearman.Pool, img []byte) ([]byte, error) {
	task, err := pool.Submit(ctx, gearman.Job{Func: "resize", Data: img, Priority: gearman.High})
	if err != nil {
		return nil, err
	}
	return task.Result(ctx)
}

// Testing code that submits jobs, against a fake worker: the fake answers,
// and the server recorded what the code submitted.
func Example_fakeWorker() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.Fake("resize", gearmantest.Reply{Data: []byte("small.png")})

	ctx := context.Background()
	out, err := thumbnail(ctx, srv.Pool(nil), []byte("big.png"))
	fmt.Println(string(out), err)
	for _, job := range srv.Submitted() {
		fmt.Println(job.Func, job.Priority, string(job.Data))
	}

	// Now the workers fail.
	srv.Fake("resize", gearmantest.Reply{Err: gearman.ErrJobFailed})
	_, err = thumbnail(ctx, srv.Pool(nil), []byte("big.png"))
	fmt.Println(errors.Is(err, gearman.ErrJobFailed))
	// Output:
	// small.png <nil>
	// resize high big.png
	// true
}

// submitRetrying is code under test that handles lost connections: it
// submits the job again when the connection failed under it.
func submitRetrying(ctx context.Context, pool *gearman.Pool, job gearman.Job) (out []byte, attempts int, err error) {
	for {
		attempts++
		task, err := pool.Submit(ctx, job)
		if err == nil {
			out, err = task.Result(ctx)
		}
		if !errors.Is(err, gearman.ErrConnLost) || ctx.Err() != nil {
			return out, attempts, err
		}
	}
}

// Testing reconnect handling: the connections drop while the job waits in
// the queue, and the server refuses new ones for a while.
func Example_reconnect() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	srv.Stall("echo") // hold the job in the queue

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool := srv.Pool(&gearman.PoolOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	type result struct {
		out      []byte
		attempts int
		err      error
	}
	done := make(chan result)
	go func() {
		out, attempts, err := submitRetrying(ctx, pool, gearman.Job{Func: "echo", Data: []byte("still here")})
		done <- result{out, attempts, err}
	}()
	srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return len(s.Queued("echo")) > 0 })

	srv.Refuse(-1) // until told otherwise
	srv.CloseClientConnections()
	srv.WaitFor(ctx, func(s *gearmantest.Server) bool { return s.Connections() == 0 })
	srv.Unstall("echo")
	srv.Refuse(0)

	r := <-done
	fmt.Printf("%s, retried: %v, err: %v\n", r.out, r.attempts > 1, r.err)
	// Output:
	// still here, retried: true, err: <nil>
}

// Epoch jobs run when the server's clock reaches their time; FastForward
// gets there at once.
func ExampleServer_FastForward() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.Stall("report") // keep it in the queue, to look at it
	ctx := context.Background()
	_, err := srv.Pool(nil).Submit(ctx, gearman.Job{Func: "report", Background: true, At: time.Now().Add(24 * time.Hour)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("waiting:", srv.Func("report").Waiting, "queued:", srv.Queued("report"))
	srv.FastForward(24 * time.Hour)
	fmt.Println("waiting:", srv.Func("report").Waiting, "queued:", srv.Queued("report"))
	// Output:
	// waiting: 1 queued: map[]
	// waiting: 0 queued: map[normal:1]
}

// Testing a restart: background jobs kept in a store directory are there
// for the next server on it, with their handles.
func ExampleConfig_storeDir() {
	dir, err := os.MkdirTemp("", "gearmantest-store") // in a test: t.TempDir()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	first := gearmantest.NewServerWith(nil, &gearmantest.Config{StoreDir: dir})
	task, err := first.Pool(nil).Submit(ctx, gearman.Job{Func: "report", Data: []byte("monthly"), Background: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	handle := task.Handle()
	first.Close() // the jobs stay in dir

	second := gearmantest.NewServerWith(nil, &gearmantest.Config{StoreDir: dir})
	defer second.Close()
	ran := make(chan string, 1)
	second.Handle("report", gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
		p, err := io.ReadAll(t)
		ran <- fmt.Sprintf("%s, same handle: %v", p, t.Handle() == handle)
		return err
	}))
	fmt.Println("report", <-ran)
	// Output:
	// report monthly, same handle: true
}
