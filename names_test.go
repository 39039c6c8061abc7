package gearman_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// wantNameError checks that err is a *gearman.NameError for name, matching
// ErrInvalidName and, unless the name is empty, wire.ErrBadName.
func wantNameError(t *testing.T, err error, what, name string) {
	t.Helper()
	var ne *gearman.NameError
	if !errors.As(err, &ne) || ne.What != what || ne.Name != name {
		t.Fatalf("got %v; want a *NameError for %s %q", err, what, name)
	}
	if !errors.Is(err, gearman.ErrInvalidName) {
		t.Errorf("%v does not match ErrInvalidName", err)
	}
	if name != "" && !errors.Is(err, wire.ErrBadName) {
		t.Errorf("%v does not match wire.ErrBadName", err)
	}
}

// Function names that would break the admin protocol (a space, a control
// character: wire.ValidFunctionName) and empty ones are refused before
// anything is sent, with a *NameError, by every call that sends one; a
// refused submit is safe to retry. The scripted server sees nothing but
// the barrier's ECHO_REQ.
func TestInvalidFunctionNames(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	for _, name := range []string{"", "a b", "tab\there", "line\nbreak", "nul\x00", "del\x7f"} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Submit(ctx, gearman.Job{Func: name, Background: true})
			wantNameError(t, err, "function name", name)
			if !gearman.SafeToRetry(err) {
				t.Errorf("SafeToRetry(%v) = false; want true", err)
			}
			_, err = c.Do(ctx, gearman.Job{Func: name})
			wantNameError(t, err, "function name", name)
			_, err = c.Open(ctx, gearman.Job{Func: name})
			wantNameError(t, err, "function name", name)
			if name != "" {
				_, err = c.Submit(ctx, gearman.Job{Func: "f", Reducer: name})
				wantNameError(t, err, "reducer", name)
			}
			wantNameError(t, c.Register(name, copyHandler, nil), "function name", name)
			wantNameError(t, c.Unregister(name), "function name", name)
			barrier(t, c, p) // nothing was sent before the ECHO_REQ
		})
	}
	// A name in UTF-8, with punctuation, is sent.
	if err := c.Register("größe:v1/ü", copyHandler, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.ExpectPacket(wire.CanDo); string(got.Arg(0)) != "größe:v1/ü" {
		t.Errorf("got %v; want CAN_DO größe:v1/ü", got)
	}
}

// A pool refuses the same names, before sending (the admin client refuses
// them too, with ErrAdminArgument).
func TestInvalidFunctionNamesPool(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	pool, err := gearman.NewPool([]string{addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const bad = "drop me"
	_, err = pool.Submit(ctx, gearman.Job{Func: bad, Background: true})
	wantNameError(t, err, "function name", bad)
	_, err = pool.Do(ctx, gearman.Job{Func: "f", Reducer: bad})
	wantNameError(t, err, "reducer", bad)
	wantNameError(t, pool.Register(bad, copyHandler, nil), "function name", bad)
	wantNameError(t, pool.Unregister(bad), "function name", bad)
}

// Client ids with a control character (wire.ValidClientID) are refused
// with a *NameError: by SetClientID before sending, and as Options.ClientID
// by Dial before it dials and by NewPool. A space is allowed.
func TestInvalidClientIDs(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	for _, id := range []string{"line\nbreak", "cr\rhere", "tab\t", "nul\x00"} {
		wantNameError(t, c.SetClientID(id), "client id", id)
		barrier(t, c, p)

		dialed := false
		_, err := gearman.Dial(testCtx(t), "127.0.0.1:1", &gearman.Options{
			ClientID: id,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialed = true
				return nil, errors.New("not to be dialled")
			},
		})
		wantNameError(t, err, "client id", id)
		if dialed {
			t.Errorf("Dial with client id %q dialled", id)
		}
		_, err = gearman.NewPool([]string{"127.0.0.1:1"}, &gearman.PoolOptions{Options: gearman.Options{ClientID: id}})
		wantNameError(t, err, "client id", id)
	}
	if err := c.SetClientID("with space"); err != nil {
		t.Fatal(err)
	}
	if got := p.ExpectPacket(wire.SetClientID); string(got.Arg(0)) != "with space" {
		t.Errorf("got %v; want SET_CLIENT_ID with space", got)
	}
}
