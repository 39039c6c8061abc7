package gearman_test

import (
	"context"
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
