package gearman_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// A file piped through a remote worker and back: the payload is written to
// the task and the result read from it, both as streams.
func Example_streaming() {
	srv := gearmantest.Start()
	defer srv.Close()
	pool := srv.Pool(nil)
	ctx := context.Background()

	// The worker compresses its payload as it reads it.
	pool.Register("gzip", gearman.HandlerFunc(func(ctx context.Context, t *gearman.Task) error {
		zw := gzip.NewWriter(t)
		if _, err := io.Copy(zw, t); err != nil {
			return err
		}
		return zw.Close()
	}), nil)

	file := strings.NewReader(strings.Repeat("all work and no play ", 1000))
	task, err := pool.Open(ctx, gearman.Job{Func: "gzip"})
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(task, file) // the payload
	task.Close()        // submits the job
	zr, err := gzip.NewReader(task)
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := io.Copy(io.Discard, zr) // the result, as it arrives
	fmt.Println(n, err)
	// Output: 21000 <nil>
}

// Submit sends a payload held in memory; the task is a Future for the
// result.
func ExamplePool_Submit() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("upper", func(ctx context.Context, p []byte) ([]byte, error) {
		return bytes.ToUpper(p), nil
	})
	pool := srv.Pool(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	task, err := pool.Submit(ctx, gearman.Job{Func: "upper", Data: []byte("hello"), Priority: gearman.High})
	if err != nil {
		fmt.Println(err)
		return
	}
	result, err := task.Result(ctx)
	fmt.Printf("%s %v\n", result, err)
	// Output: HELLO <nil>
}

// Do runs a job and returns its result in one call.
func ExamplePool_Do() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("upper", func(ctx context.Context, p []byte) ([]byte, error) {
		return bytes.ToUpper(p), nil
	})
	pool := srv.Pool(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	result, err := pool.Do(ctx, gearman.Job{Func: "upper", Data: []byte("hello")})
	fmt.Printf("%s %v\n", result, err)
	// Output: HELLO <nil>
}

// A handler can submit jobs of its own and await their futures: here it
// fans a line of words out to another function and joins the results.
func ExampleHandlerFunc_fanOut() {
	srv := gearmantest.Start()
	defer srv.Close()
	// Two jobs at once: the fan-out job, and the jobs it waits for.
	pool := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{MaxJobs: 8}})
	ctx := context.Background()

	pool.Register("length", gearman.BytesHandler(func(ctx context.Context, word []byte) ([]byte, error) {
		return fmt.Appendf(nil, "%d", len(word)), nil
	}), nil)
	pool.Register("lengths", gearman.BytesHandler(func(ctx context.Context, line []byte) ([]byte, error) {
		var futures []gearman.Future
		for _, w := range strings.Fields(string(line)) {
			task, err := pool.Submit(ctx, gearman.Job{Func: "length", Data: []byte(w)})
			if err != nil {
				return nil, err
			}
			futures = append(futures, task)
		}
		var out []string
		for _, f := range futures {
			r, err := f.Result(ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, string(r))
		}
		return []byte(strings.Join(out, ",")), nil
	}), nil)

	task, _ := pool.Submit(ctx, gearman.Job{Func: "lengths", Data: []byte("a stream first library")})
	result, err := task.Result(ctx)
	fmt.Printf("%s %v\n", result, err)
	// Output: 1,6,5,7 <nil>
}

// Closing a client task ends its payload and submits the job; a job that
// fails comes back as an error from Read or Result.
func ExampleTask_Close() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.Fake("check", gearmantest.Reply{Err: gearman.ErrJobFailed})
	pool := srv.Pool(nil)
	ctx := context.Background()

	task, _ := pool.Open(ctx, gearman.Job{Func: "check"})
	task.Write([]byte("part one, "))
	task.Write([]byte("part two"))
	task.Close()
	_, err := io.ReadAll(task)
	fmt.Println(err == nil, errors.Is(err, gearman.ErrJobFailed))
	// Output: false true
}

// Shutdown stops a server gracefully: it stops taking connections and jobs,
// lets running jobs finish, then closes.
func ExampleServer_Shutdown() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &gearman.Server{}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(srv.Shutdown(ctx))
	fmt.Println(<-done)
	// Output:
	// <nil>
	// gearman: server closed
}

// A server on the embedded store keeps its background jobs across a
// restart (or a crash).
func ExampleOpenStore() {
	dir, err := os.MkdirTemp("", "gearman-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	serve := func() (*gearman.Server, string) {
		st, err := gearman.OpenStore(ctx, "file:"+dir, nil)
		if err != nil {
			panic(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		srv := &gearman.Server{Store: st}
		go srv.Serve(l)
		return srv, l.Addr().String()
	}
	srv, addr := serve()
	pool, err := gearman.NewPool([]string{addr}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = pool.Submit(ctx, gearman.Job{Func: "resize", Data: []byte("photo.jpg"), Background: true})
	fmt.Println("submitted:", err)
	pool.Close()
	srv.Close() // or a crash: the job was on disk before the submit returned

	srv, addr = serve()
	defer srv.Close()
	pool, err = gearman.NewPool([]string{addr}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	pool.Register("resize", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		fmt.Printf("after the restart: resize %s\n", p)
		cancel()
		return nil, nil
	}), nil)
	<-ctx.Done()
	// Output:
	// submitted: <nil>
	// after the restart: resize photo.jpg
}

// Several servers on one PostgreSQL database share one queue of background
// jobs: any server's workers run any server's jobs, and when a server dies
// the jobs it held run elsewhere. Clients and workers connect to all of
// them through a Pool.
func ExampleOpenStore_cluster() {
	ctx := context.Background()
	st, err := gearman.OpenStore(ctx, "postgres://gearman@db.internal/gearman", &gearman.StoreOptions{Lease: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &gearman.Server{Addr: ":4730", Store: st} // the same on every server
	go srv.ListenAndServe()

	pool, err := gearman.NewPool([]string{"10.0.0.1:4730", "10.0.0.2:4730", "10.0.0.3:4730"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	pool.Submit(ctx, gearman.Job{Func: "report", Unique: "daily-2026-12-02", Background: true})
}

// A broadcast reaches every worker that takes part, once, and collects
// their answers: here three workers reload their configuration.
func ExamplePool_Broadcast() {
	srv := gearmantest.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"ant", "bee", "cat"} {
		w, err := srv.Dial(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		w.HandleBroadcasts(gearman.BytesHandler(func(ctx context.Context, msg []byte) ([]byte, error) {
			return []byte(name + " did " + string(msg)), nil
		}))
		w.Echo(ctx, nil) // the server has seen the registration
	}

	pool := srv.Pool(nil)
	b, err := pool.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("reload")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b.Workers()), "workers")
	var answers []string
	for r := range b.Replies() { // one for each worker, as they answer
		answers = append(answers, fmt.Sprintf("%s %v", r.Data, r.Err))
	}
	slices.Sort(answers)
	fmt.Println(strings.Join(answers, "\n"))
	// Output:
	// 3 workers
	// ant did reload <nil>
	// bee did reload <nil>
	// cat did reload <nil>
}

// Priority slots: of a worker pool's 3 slots, 1 is kept for high-priority
// jobs, so a flood of low-priority jobs never holds them all and a high
// job runs at once.
func ExamplePoolOptions_reservedHigh() {
	srv := gearmantest.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hold := make(chan struct{})
	started := make(chan string, 10)
	workers := srv.Pool(&gearman.PoolOptions{Options: gearman.Options{MaxJobs: 3}, ReservedHigh: 1})
	workers.Register("report", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		started <- string(p)
		if string(p) == "low" {
			<-hold // a long job
		}
		return []byte("done " + string(p)), nil
	}), nil)

	pool := srv.Pool(nil)
	var flood []*gearman.Task
	for range 5 {
		t, err := pool.Submit(ctx, gearman.Job{Func: "report", Data: []byte("low"), Priority: gearman.Low})
		if err != nil {
			fmt.Println(err)
			return
		}
		flood = append(flood, t)
	}
	fmt.Println(<-started, <-started) // two slots for the flood
	out, err := pool.Do(ctx, gearman.Job{Func: "report", Data: []byte("urgent"), Priority: gearman.High})
	fmt.Println(string(out), err)
	close(hold)
	for _, t := range flood {
		t.Result(ctx)
	}
	// Output:
	// low low
	// done urgent <nil>
}

// A trace sees every packet of a connection: here the client's side of
// one job, as a traffic dump would show it.
func ExamplePacketTrace() {
	srv := gearmantest.Start()
	defer srv.Close()
	srv.HandleFunc("upper", func(ctx context.Context, p []byte) ([]byte, error) {
		return bytes.ToUpper(p), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	trace := &gearman.PacketTrace{
		Sent:     func(p gearman.PacketInfo) { fmt.Println("-->", p) },
		Received: func(p gearman.PacketInfo) { fmt.Println("<--", p) },
		Data:     true, // show the payloads too
	}
	c, err := gearman.Dial(ctx, srv.Addr(), &gearman.Options{DialContext: srv.DialContext, Trace: trace})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Do(ctx, gearman.Job{Func: "upper", Data: []byte("hi")})
	// Output:
	// --> OPTION_REQ "exceptions" size=10
	// <-- OPTION_RES "exceptions" size=10
	// --> SUBMIT_JOB "upper" "" size=9 data=2 "hi"
	// <-- JOB_CREATED handle=H:gearmantest:1 size=15
	// <-- WORK_COMPLETE handle=H:gearmantest:1 size=18 data=2 "HI"
}

// A server that keeps failed background jobs: retried with backoff (none
// here), then kept as dead letters that an operator lists, retries or
// purges.
func ExampleServer_DeadLetters() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &gearman.Server{RetryFailed: gearman.RetryPolicy{Retries: 0, Keep: true}}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := gearman.NewPool([]string{l.Addr().String()}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	pool.Register("charge", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, errors.New("card declined")
	}), nil)
	if _, err := pool.Submit(ctx, gearman.Job{Func: "charge", Data: []byte("order 17"), Background: true}); err != nil {
		fmt.Println(err)
		return
	}
	for ctx.Err() == nil {
		list, _, err := srv.DeadLetters(ctx, "charge", 10)
		if err != nil || len(list) > 0 {
			for _, d := range list {
				fmt.Printf("%s %q: %d attempt, %s\n", d.Function, d.Data, d.Attempts, d.Error)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := srv.PurgeDeadLetters(ctx, "", "charge")
	fmt.Println("purged:", n, err)
	// Output:
	// charge "order 17": 1 attempt, card declined
	// purged: 1 <nil>
}
