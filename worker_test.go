package gearman_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// functionsOf returns the functions the server lists for the connection with
// client id id.
func functionsOf(t *testing.T, ctx context.Context, addr, id string) []string {
	t.Helper()
	a, err := gearman.DialAdmin(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ws, err := a.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ClientID == id {
			fs := slices.Clone(w.Functions)
			slices.Sort(fs)
			return fs
		}
	}
	t.Fatalf("no connection with client id %q in %+v", id, ws)
	return nil
}

func TestRegistration(t *testing.T) {
	eachServer(t, testRegistration)
}

func testRegistration(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, &gearman.Options{ClientID: "reg-test"})
	sync := func() {
		// The server handles a connection's packets in order: an echo
		// answered means the registrations before it are done.
		if _, err := w.Echo(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Register("a", reverseHandler, nil)
	w.Register("b", reverseHandler, &gearman.RegisterOptions{Timeout: 5 * time.Second})
	sync()
	if got := functionsOf(t, ctx, addr, "reg-test"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("after Register: %q; want [a b]", got)
	}
	w.Unregister("a")
	sync()
	if got := functionsOf(t, ctx, addr, "reg-test"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after Unregister: %q; want [b]", got)
	}
	w.ResetAbilities()
	sync()
	if got := functionsOf(t, ctx, addr, "reg-test"); len(got) != 0 {
		t.Errorf("after ResetAbilities: %q; want none", got)
	}
}

// A handler whose payload came whole runs on the goroutine that read it,
// which hands the reading on first: a handler may then submit a job on its
// own connection and await it, job after job.
func TestHandlerAwaitsOwnConn(t *testing.T) {
	eachServer(t, testHandlerAwaitsOwnConn)
}

func testHandlerAwaitsOwnConn(t *testing.T, addr string) {
	ctx := testCtx(t)
	c := dial(t, addr, &gearman.Options{MaxJobs: 2})
	c.Register("inner", gearman.BytesHandler(func(_ context.Context, p []byte) ([]byte, error) {
		return append([]byte("inner:"), p...), nil
	}), nil)
	c.Register("outer", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		task, err := c.Submit(ctx, gearman.Job{Func: "inner", Data: p})
		if err != nil {
			return nil, err
		}
		r, err := task.Result(ctx)
		return append([]byte("outer:"), r...), err
	}), nil)
	for i := range 50 {
		payload := fmt.Appendf(nil, "job %d", i)
		task, err := c.Submit(ctx, gearman.Job{Func: "outer", Data: payload})
		if err != nil {
			t.Fatal(err)
		}
		got, err := task.Result(ctx)
		if want := "outer:inner:" + string(payload); err != nil || string(got) != want {
			t.Fatalf("job %d: %q, %v; want %q", i, got, err, want)
		}
	}
}
