package gearmantest_test

import (
	"context"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
	"go.uber.org/goleak"
)

// A test that uses every part of a Server passes goleak. The check is
// registered before the server, so it runs after the server's Close.
func TestNoLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	srv.Fake("slow", gearmantest.Reply{Delay: 1 << 40})
	p := srv.Pool(nil)
	if _, err := submit(t, ctx, p, gearman.Job{Func: "echo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, gearman.Job{Func: "slow"}); err != nil { // still running at Close
		t.Fatal(err)
	}
	c, err := srv.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Echo(ctx, nil)
	srv.CloseClientConnections()
	srv.FastForward(1 << 40)
	tcp := gearmantest.NewTCPServer(t)
	if _, err := submit(t, ctx, tcp.Pool(nil), gearman.Job{Func: "x", Background: true}); err != nil {
		t.Fatal(err)
	}
}
