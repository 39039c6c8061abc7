package gearman_test

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// A socket in blocking mode when the connection starts is read and written
// through the net.Conn's own methods, never with the raw system calls
// (which would block a thread unseen by the runtime), and works as any. As
// with package net's own methods on such a socket, Close cannot interrupt
// a read that waits: the server closes first here.
func TestBlockingSocketFallsBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the mode is checked on Linux only")
	}
	for _, blocking := range []bool{false, true} {
		s := &gearman.Server{}
		addr := srvStart(t, s)
		ctx := testCtx(t)
		w := dial(t, addr, nil)
		if err := w.Register("reverse", reverseHandler, nil); err != nil {
			t.Fatal(err)
		}
		opts := &gearman.Options{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := new(net.Dialer).DialContext(ctx, network, addr)
			if err == nil && blocking {
				rc, _ := nc.(syscall.Conn).SyscallConn()
				rc.Control(func(fd uintptr) { err = syscall.SetNonblock(int(fd), false) })
			}
			return nc, err
		}}
		c := dial(t, addr, opts)
		if c.ReadsRaw() == blocking {
			t.Errorf("blocking %v: reads through the raw socket %v", blocking, c.ReadsRaw())
		}
		for range 3 {
			got, err := c.Do(ctx, gearman.Job{Func: "reverse", Data: []byte("abc")})
			if err != nil || string(got) != "cba" {
				t.Fatalf("blocking %v: Do = %q, %v; want cba", blocking, got, err)
			}
		}
		if _, err := c.Echo(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		<-c.Done()
	}
}
