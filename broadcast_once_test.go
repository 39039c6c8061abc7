package gearman_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// A worker whose connection is lost while its broadcast handler runs gets
// the message again from the server when it reconnects (a job whose worker
// went away is queued again, on gearmand as on ours); its handler still
// runs once: the repeat is refused, and the broadcaster's reply says so.
func TestBroadcastAtMostOnceAcrossReconnect(t *testing.T) {
	eachServer(t, func(t *testing.T, addr string) {
		ctx := testCtx(t)
		var mu sync.Mutex
		var conns []net.Conn
		var d net.Dialer
		dialer := func(ctx context.Context, network, a string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, a)
			if err == nil {
				mu.Lock()
				conns = append(conns, nc)
				mu.Unlock()
			}
			return nc, err
		}
		p := newPool(t, []string{addr}, &gearman.PoolOptions{
			Options:    gearman.Options{DialContext: dialer},
			MinBackoff: 10 * time.Millisecond,
		})
		var runs atomic.Int32
		if _, err := p.HandleBroadcasts(gearman.BytesHandler(func(ctx context.Context, data []byte) ([]byte, error) {
			if runs.Add(1) == 1 {
				mu.Lock()
				for _, nc := range conns {
					nc.Close()
				}
				mu.Unlock()
				<-ctx.Done()
			}
			return data, nil
		})); err != nil {
			t.Fatal(err)
		}
		waitBroadcastees(t, ctx, nil, 1, addr)
		c := dial(t, addr, nil)
		b, err := c.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("once")})
		if err != nil {
			t.Fatal(err)
		}
		got := b.Wait()
		if len(got) != 1 || got[0].Err == nil || !errors.Is(got[0].Err, gearman.ErrJobFailed) && !errors.As(got[0].Err, new(*gearman.JobException)) {
			t.Fatalf("replies %+v; want one failed, as the repeat was refused", got)
		}
		if n := runs.Load(); n != 1 {
			t.Fatalf("the handler ran %d times; want once", n)
		}
	})
}

// Broadcast.Servers counts a message as soon as its server took it, not
// when its worker answers: with the handler still running, it shows one.
func TestBroadcastServersCountTaken(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	started, release := make(chan struct{}), make(chan struct{})
	if _, err := w.HandleBroadcasts(gearman.BytesHandler(func(ctx context.Context, data []byte) ([]byte, error) {
		close(started)
		<-release
		return data, nil
	})); err != nil {
		t.Fatal(err)
	}
	waitBroadcastees(t, ctx, nil, 1, addr)
	c := dial(t, addr, nil)
	b, err := c.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	<-started
	for b.Servers()[0].Value != 1 {
		if ctx.Err() != nil {
			close(release)
			t.Fatalf("servers %+v while the handler runs; want one message taken", b.Servers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if got := b.Wait(); len(got) != 1 || got[0].Err != nil {
		t.Fatalf("replies %+v", got)
	}
	if s := b.Servers(); s[0].Value != 1 {
		t.Fatalf("servers %+v after the reply; want one", s)
	}
}

// A server that never answers the admin workers list (the abraxas server
// has no admin protocol) is left out after the list's bound, and the
// broadcast goes to the workers the other servers listed, however long
// the broadcast's own context.
func TestBroadcastServerWithoutAdmin(t *testing.T) {
	defer gearman.SetBroadcastListWait(200 * time.Millisecond)()
	silent := fakeServer(t, func(nc net.Conn, r *wire.Reader) {
		io.Copy(io.Discard, nc)
	})
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	w := dial(t, addr, nil)
	if _, err := w.HandleBroadcasts(gearman.BytesHandler(func(ctx context.Context, data []byte) ([]byte, error) {
		return data, nil
	})); err != nil {
		t.Fatal(err)
	}
	waitBroadcastees(t, ctx, nil, 1, addr)
	p := newPool(t, []string{silent, addr}, nil)
	b, err := p.Broadcast(ctx, gearman.BroadcastMessage{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Wait(); len(got) != 1 || got[0].Err != nil || string(got[0].Data) != "x" {
		t.Fatalf("replies %+v; want the one worker's answer", got)
	}
	s := b.Servers()
	if len(s) != 2 || s[0].Addr != silent || !errors.Is(s[0].Err, context.DeadlineExceeded) || s[1].Err != nil {
		t.Fatalf("servers %+v; want the silent one timed out", s)
	}
	t.Log(s[0].Err)
}
