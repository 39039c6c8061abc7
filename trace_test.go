package gearman_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// traceLog records a connection's trace as lines: "> " for a packet sent,
// "< " for one received, "! " for an unexpected one.
type traceLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *traceLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *traceLog) trace(data bool) *gearman.PacketTrace {
	return &gearman.PacketTrace{
		Sent:       func(p gearman.PacketInfo) { l.add("> " + p.String()) },
		Received:   func(p gearman.PacketInfo) { l.add("< " + p.String()) },
		Unexpected: func(p gearman.PacketInfo, err error) { l.add("! " + p.Type.String() + ": " + err.Error()) },
		Data:       data,
	}
}

func (l *traceLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// waitFor waits until the log has a line that starts with prefix.
func (l *traceLog) waitFor(t *testing.T, ctx context.Context, prefix string) {
	t.Helper()
	for ctx.Err() == nil {
		for _, s := range l.get() {
			if strings.HasPrefix(s, prefix) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %q in the trace: %q", prefix, l.get())
}

// One job's packets, on the client's and on the worker's connection.
func TestTraceGolden(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	var client, worker traceLog
	c := dial(t, addr, &gearman.Options{Trace: client.trace(true)})
	task, err := c.Submit(ctx, gearman.Job{Func: "upper", Data: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	w := dial(t, addr, &gearman.Options{Trace: worker.trace(true)})
	w.Register("upper", gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) {
		return bytes.ToUpper(p), nil
	}), nil)
	if out, err := task.Result(ctx); err != nil || string(out) != "HELLO" {
		t.Fatalf("got %q, %v", out, err)
	}
	worker.waitFor(t, ctx, "> PRE_SLEEP")

	wantClient := []string{
		`> OPTION_REQ "exceptions" size=10`,
		`< OPTION_RES "exceptions" size=10`,
		`> SUBMIT_JOB "upper" "" size=12 data=5 "hello"`,
		`< JOB_CREATED handle=H:test:1 size=8`,
		`< WORK_COMPLETE handle=H:test:1 size=14 data=5 "HELLO"`,
	}
	if diff := cmp.Diff(wantClient, client.get()); diff != "" {
		t.Errorf("client trace (-want +got):\n%s", diff)
	}
	wantWorker := []string{
		`> OPTION_REQ "exceptions" size=10`,
		`< OPTION_RES "exceptions" size=10`,
		`> CAN_DO "upper" size=5`,
		`> GRAB_JOB_UNIQ size=0`,
		`< JOB_ASSIGN_UNIQ handle=H:test:1 "upper" "" size=21 data=5 "hello"`,
		`> WORK_COMPLETE handle=H:test:1 size=14 data=5 "HELLO"`,
		`> GRAB_JOB_UNIQ size=0`,
		`< NO_JOB size=0`,
		`> PRE_SLEEP size=0`,
	}
	if diff := cmp.Diff(wantWorker, worker.get()); diff != "" {
		t.Errorf("worker trace (-want +got):\n%s", diff)
	}
}

// fakeServer accepts one connection and runs serve on it.
func fakeServer(t *testing.T, serve func(nc net.Conn, r *wire.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		serve(nc, wire.NewReader(nc))
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func resPacket(t wire.Type, args ...string) []byte {
	b, err := wire.AppendPacket(nil, wire.Res, t, bytesArgs(args)...)
	if err != nil {
		panic(err)
	}
	return b
}

func bytesArgs(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// logRecorder is a slog handler that keeps the messages of level Warn.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }
func (h *logRecorder) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// A packet of a type the protocol does not define is reported to the
// trace and the logger, skipped, and the connection goes on.
func TestTraceUnknownPacket(t *testing.T) {
	addr := fakeServer(t, func(nc net.Conn, r *wire.Reader) {
		for {
			p, err := r.Next()
			if err != nil {
				return
			}
			switch p.Type {
			case wire.OptionReq:
				unknown := binary.BigEndian.AppendUint32([]byte("\x00RES"), 99)
				unknown = binary.BigEndian.AppendUint32(unknown, 3)
				unknown = append(unknown, "abc"...)
				nc.Write(append(unknown, resPacket(wire.OptionRes, string(p.Args[0]))...))
			case wire.EchoReq:
				nc.Write(resPacket(wire.EchoRes, string(p.Args[0])))
			}
		}
	})
	var tl traceLog
	logs := &logRecorder{}
	c := dial(t, addr, &gearman.Options{Trace: tl.trace(false), Logger: slog.New(logs)})
	ctx := testCtx(t)
	if got, err := c.Echo(ctx, []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("echo after an unknown packet: %q, %v", got, err)
	}
	want := []string{
		`> OPTION_REQ "exceptions" size=10`,
		`< UNKNOWN_TYPE_99 size=3`,
		`! UNKNOWN_TYPE_99: gearman: ` + addr + ` sent a packet of unknown type 99 (3 bytes), skipped`,
		`< OPTION_RES "exceptions" size=10`,
		`> ECHO_REQ size=10 data=10`,
		`< ECHO_RES size=10 data=10`,
	}
	if diff := cmp.Diff(want, tl.get()); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if got := logs.get(); len(got) != 1 || got[0] != "gearman: unknown packet" {
		t.Errorf("logged %q; want the unknown packet", got)
	}
}

// A packet that does not fit the connection's state ends it, reported to
// the trace and the logger.
func TestTraceUnexpectedPacket(t *testing.T) {
	addr := fakeServer(t, func(nc net.Conn, r *wire.Reader) {
		for {
			p, err := r.Next()
			if err != nil {
				return
			}
			if p.Type == wire.OptionReq {
				nc.Write(resPacket(wire.OptionRes, string(p.Args[0])))
			}
			if p.Type == wire.EchoReq {
				nc.Write(resPacket(wire.NoJob)) // no grab was sent
			}
		}
	})
	var tl traceLog
	logs := &logRecorder{}
	c := dial(t, addr, &gearman.Options{Trace: tl.trace(false), Logger: slog.New(logs)})
	ctx := testCtx(t)
	if _, err := c.Echo(ctx, []byte("x")); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("echo answered with NO_JOB: %v; want ErrConnLost", err)
	}
	want := `! NO_JOB: gearman: ` + addr + ` sent NO_JOB with no grab waiting`
	if got := tl.get(); len(got) == 0 || got[len(got)-1] != want {
		t.Errorf("trace %q; want it to end with %q", got, want)
	}
	if got := logs.get(); len(got) != 1 || !strings.HasPrefix(got[0], "gearman: unexpected packet") {
		t.Errorf("logged %q; want the unexpected packet", got)
	}
}
