package gearman_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestScriptUnknownHandles(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)
	task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:known")
	p.Send(wire.WorkData, "H:nope", strings.Repeat("x", 100<<10))
	p.Send(wire.WorkStatus, "H:nope", "1", "2")
	p.Send(wire.WorkWarning, "H:nope", "w")
	p.Send(wire.WorkException, "H:nope", "e")
	p.Send(wire.WorkFail, "H:nope")
	p.Send(wire.WorkComplete, "H:nope", "done")
	barrier(t, c, p)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	p.Send(wire.WorkComplete, "H:known", "ok")
	if got, err := task.Result(ctx); err != nil || string(got) != "ok" {
		t.Fatalf("result %q, %v", got, err)
	}
}

func TestScriptUnexpectedPackets(t *testing.T) {
	raw := func(m string, typ wire.Type, body string) []byte {
		b := wire.AppendHeader(nil, wire.Res, typ, uint32(len(body)))
		copy(b, m)
		return append(b, body...)
	}
	for _, tc := range []struct {
		name string
		send func(p *wiretest.Peer)
		want string
	}{
		{"JOB_CREATED", func(p *wiretest.Peer) { p.Send(wire.JobCreated, "H:1") }, "JOB_CREATED with no submit"},
		{"NO_JOB", func(p *wiretest.Peer) { p.Send(wire.NoJob) }, "NO_JOB with no grab"},
		{"JOB_ASSIGN", func(p *wiretest.Peer) { p.Send(wire.JobAssign, "H:1", "f", "x") }, "JOB_ASSIGN with no grab"},
		{"ECHO_RES", func(p *wiretest.Peer) { p.Send(wire.EchoRes, "x") }, "ECHO_RES with no request"},
		{"STATUS_RES", func(p *wiretest.Peer) { p.Send(wire.StatusRes, "H:1", "0", "0", "0", "0") }, "STATUS_RES with no request"},
		{"OPTION_RES", func(p *wiretest.Peer) { p.Send(wire.OptionRes, "exceptions") }, "OPTION_RES with no request"},
		{"REQ magic", func(p *wiretest.Peer) { p.SendRaw(raw("\x00REQ", wire.Noop, "")) }, "unexpected REQ NOOP"},
		{"request type", func(p *wiretest.Peer) { p.SendRaw(raw("\x00RES", wire.GrabJob, "")) }, "unexpected RES GRAB_JOB"},
		{"text line", func(p *wiretest.Peer) { p.SendRaw([]byte("OK\n")) }, "unexpected TEXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			tc.send(p)
			err := wantConnLost(t, c)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Err() = %q; want it to say %q", err, tc.want)
			}
			p.ExpectClosedNow()
		})
	}
}

// A packet of an unknown type is not malformed: the connection reports and
// skips it (TestTraceUnknownPacket).
func TestScriptMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"bad magic", []byte("\x00RAS\x00\x00\x00\x06\x00\x00\x00\x00"), wire.ErrBadMagic},
		{"short header", []byte("\x00RES\x00\x00"), io.ErrUnexpectedEOF},
		{"short body", []byte("\x00RES\x00\x00\x00\x08\x00\x00\x00\x10H:1"), io.ErrUnexpectedEOF},
		{"short data", []byte("\x00RES\x00\x00\x00\x1c\x00\x00\x00\x10H:1\x00ab"), io.ErrUnexpectedEOF},
		{"missing arguments", []byte("\x00RES\x00\x00\x00\x13\x00\x00\x00\x04CODE"), wire.ErrArgCount},
		{"too large", []byte("\x00RES\x00\x00\x00\x13\x01\x00\x00\x00"), wire.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := scriptConn(t, nil, true)
			ctx := testCtx(t)
			// A task on handle H:1, so that "short data" is read into it.
			task := submitScripted(t, ctx, c, p, gearman.Job{Func: "f"}, "H:1")
			p.SendRaw(tc.bytes)
			p.Close() // the end of the stream cuts the packet short
			err := wantConnLost(t, c)
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
				t.Fatalf("Err() = %v; want a *wire.ProtocolError wrapping %v", err, tc.want)
			}
			if _, err := task.Result(ctx); !errors.Is(err, gearman.ErrConnLost) {
				t.Fatalf("task: %v; want ErrConnLost", err)
			}
		})
	}
}

// Regression: a last argument of LargeData bytes or more was queued by
// reference even for packets without a data argument, with no header: a
// long function name or handle broke the stream.
func TestScriptLongArguments(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	long := strings.Repeat("f", wire.LargeData+10)
	if err := c.Register(long, reverseHandler, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.ExpectPacket(wire.CanDo); string(got.Arg(0)) != long {
		t.Fatalf("CAN_DO of %d bytes; want %d", len(got.Arg(0)), len(long))
	}
	p.ExpectPacket(wire.GrabJobUniq)
	done := make(chan error, 1)
	go func() {
		_, err := c.JobStatus(context.Background(), long)
		done <- err
	}()
	if got := p.ExpectPacket(wire.GetStatus); string(got.Arg(0)) != long {
		t.Fatalf("GET_STATUS of %d bytes; want %d", len(got.Arg(0)), len(long))
	}
	p.Send(wire.StatusRes, "H:x", "0", "0", "0", "0")
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	barrier(t, c, p)
}

// Regression: a JOB_CREATED or JOB_ASSIGN handled while Close ran could
// put its task where shutdown had already looked: the task (or the handler
// reading its payload) then waited forever. Each round races Close with
// both packets; a lost task fails on its deadline.
func TestScriptCloseRacesReplies(t *testing.T) {
	for range 100 {
		c, p := scriptConn(t, &gearman.Options{TaskBuffer: 1 << 10}, true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Register("f", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
			return b, nil
		}), nil)
		p.ExpectPacket(wire.CanDo)
		p.ExpectPacket(wire.GrabJobUniq)
		ch := submitAsync(ctx, c, gearman.Job{Func: "f"})
		p.ExpectPacket(wire.SubmitJob)
		closed := make(chan struct{})
		go func() {
			c.Close()
			close(closed)
		}()
		p.SendRaw(append(
			mustAppend(wire.AppendPacket(nil, wire.Res, wire.JobCreated, []byte("H:1"))),
			mustAppend(wire.AppendPacket(nil, wire.Res, wire.JobAssign, []byte("H:2"), []byte("f"), make([]byte, 64<<10)))...))
		if s := <-ch; s.err == nil {
			if _, err := s.task.Result(ctx); !errors.Is(err, gearman.ErrClosed) {
				t.Fatalf("task: %v; want ErrClosed", err)
			}
		}
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatal("Close hangs")
		}
		cancel()
		p.Close()
	}
}
