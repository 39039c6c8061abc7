package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

func TestProxyForwards(t *testing.T) {
	db := pgtest.Start(t)
	p := pgtest.NewProxy(t, db)
	if got := must(url.Parse(p.URL())).Host; got != p.Addr() {
		t.Errorf("proxy URL %s is not on the proxy's address %s", p.URL(), p.Addr())
	}
	c := connect(t, p.URL())
	if got := query(t, c, "SELECT current_database()"); got != must(url.Parse(db)).Path[1:] {
		t.Errorf("through the proxy: database %s; want %s", got, db)
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns = %d with one connection open; want 1", n)
	}
}

func TestProxyCut(t *testing.T) {
	p := pgtest.NewProxy(t, pgtest.Start(t))
	c := connect(t, p.URL())
	p.Cut()
	if err := c.Ping(t.Context()); err == nil {
		t.Error("a connection through a cut proxy still works")
	}
	if _, err := pgx.Connect(t.Context(), p.URL()); err == nil {
		t.Error("connected through a cut proxy")
	}
	p.Restore()
	if got := query(t, connect(t, p.URL()), "SELECT 'up'"); got != "up" {
		t.Errorf("after Restore: %q", got)
	}
}

func TestProxyStall(t *testing.T) {
	p := pgtest.NewProxy(t, pgtest.Start(t))
	c := connect(t, p.URL())
	p.Stall()
	// A new connection waits too: no byte of its startup goes through.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := pgx.Connect(ctx, p.URL())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("connect through a stalled proxy: %v; want it to wait until its deadline", err)
	}
	// A query on an open connection waits, then completes after Restore.
	done := make(chan error, 1)
	go func() {
		var s string
		done <- c.QueryRow(t.Context(), "SELECT 'held'").Scan(&s)
	}()
	select {
	case err := <-done:
		t.Fatalf("a query through a stalled proxy completed: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	p.Restore()
	if err := <-done; err != nil {
		t.Errorf("the held query after Restore: %v", err)
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	p := pgtest.NewProxy(t, pgtest.Start(t))
	c := connect(t, p.URL())
	p.Stall()
	p.Close() // with a stalled connection: returns, and ends it
	p.Close()
	if err := c.Ping(t.Context()); err == nil {
		t.Error("a connection through a closed proxy still works")
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns = %d after Close; want 0", n)
	}
}
