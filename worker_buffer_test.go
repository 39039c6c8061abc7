package gearman_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// A BufferResult task holds what it writes for WORK_COMPLETE; Flush sends it
// as WORK_DATA and later writes stream; a failure sends what is held first.
func TestScriptBufferedResult(t *testing.T) {
	for _, tc := range []struct {
		name string
		work func(task *gearman.Task) error
		want []wire.Packet
	}{
		{"held", func(task *gearman.Task) error {
			task.Write([]byte("a"))
			task.Write([]byte("b"))
			return nil
		}, []wire.Packet{{Type: wire.WorkComplete, Args: [][]byte{[]byte("H:1"), []byte("ab")}}}},
		{"flushed", func(task *gearman.Task) error {
			task.Write([]byte("a"))
			if err := task.Flush(); err != nil {
				return err
			}
			task.Write([]byte("b"))
			return nil
		}, []wire.Packet{
			{Type: wire.WorkData, Args: [][]byte{[]byte("H:1"), []byte("a")}},
			{Type: wire.WorkData, Args: [][]byte{[]byte("H:1"), []byte("b")}},
			{Type: wire.WorkComplete, Args: [][]byte{[]byte("H:1"), nil}},
		}},
		{"failed", func(task *gearman.Task) error {
			task.Write([]byte("partial"))
			return gearman.ErrJobFailed
		}, []wire.Packet{
			{Type: wire.WorkData, Args: [][]byte{[]byte("H:1"), []byte("partial")}},
			{Type: wire.WorkFail, Args: [][]byte{[]byte("H:1")}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			c.Register("f", gearman.HandlerFunc(func(ctx context.Context, task *gearman.Task) error {
				return tc.work(task)
			}), &gearman.RegisterOptions{BufferResult: true})
			p.ExpectPacket(wire.CanDo)
			p.ExpectPacket(wire.GrabJobUniq)
			p.Send(wire.JobAssignUniq, "H:1", "f", "", "x")
			for _, want := range tc.want {
				got := p.ExpectPacket(want.Type)
				if len(got.Args) != len(want.Args) {
					t.Fatalf("got %v; want %v", got, want)
				}
				for i := range want.Args {
					if string(got.Args[i]) != string(want.Args[i]) {
						t.Fatalf("got %v; want %v", got, want)
					}
				}
			}
		})
	}
}

// Shutdown lets a running job finish and its result reach the server before
// the connection closes.
func TestScriptConnShutdown(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	release := make(chan struct{})
	c.Register("f", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
		<-release
		return []byte("done"), nil
	}), nil)
	p.ExpectPacket(wire.CanDo)
	p.ExpectPacket(wire.GrabJobUniq)
	p.Send(wire.JobAssignUniq, "H:1", "f", "", "x")
	shut := make(chan error, 1)
	go func() { shut <- c.Shutdown(context.Background()) }()
	close(release)
	got := p.ExpectPacket(wire.WorkComplete)
	if string(got.Arg(1)) != "done" {
		t.Fatalf("got %v", got)
	}
	// The worker may grab again before Shutdown stops it, and Shutdown
	// waits for that grab's answer: serve as a server would, until the
	// connection closes.
	for {
		pk, err := p.NextPacket()
		if err != nil {
			break
		}
		switch pk.Type {
		case wire.GrabJobUniq:
			p.Send(wire.NoJob)
		case wire.PreSleep:
		default:
			t.Fatalf("after WORK_COMPLETE: got %v; want only grabs", pk)
		}
	}
	if err := recv(t, shut); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := c.Err(); !errors.Is(err, gearman.ErrClosed) {
		t.Errorf("after Shutdown: %v; want ErrClosed", err)
	}
}
