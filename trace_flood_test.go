package gearman_test

import (
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// A server that sends unknown packets without end does not flood the
// log: the first 8 of a connection are warnings (the 8th saying so), the
// rest debug lines; the trace still sees every one, and the connection
// goes on.
func TestTraceUnknownPacketsLogBounded(t *testing.T) {
	const n = 50
	addr := fakeServer(t, func(nc net.Conn, r *wire.Reader) {
		for {
			p, err := r.Next()
			if err != nil {
				return
			}
			switch p.Type {
			case wire.OptionReq:
				nc.Write(resPacket(wire.OptionRes, string(p.Args[0])))
			case wire.EchoReq:
				var out []byte
				for range n {
					out = binary.BigEndian.AppendUint32(append(out, "\x00RES"...), 99)
					out = binary.BigEndian.AppendUint32(out, 0)
				}
				nc.Write(append(out, resPacket(wire.EchoRes, string(p.Args[0]))...))
			}
		}
	})
	var tl traceLog
	logs := &logRecorder{}
	c := dial(t, addr, &gearman.Options{Trace: tl.trace(false), Logger: slog.New(logs)})
	if got, err := c.Echo(testCtx(t), []byte("on")); err != nil || string(got) != "on" {
		t.Fatalf("echo after %d unknown packets: %q, %v", n, got, err)
	}
	got := logs.get()
	if len(got) != 8 || !strings.Contains(got[7], "Debug") {
		t.Errorf("logged %d warnings %q; want 8, the last saying the rest go to Debug", len(got), got)
	}
	seen := 0
	for _, l := range tl.get() {
		if strings.HasPrefix(l, "! UNKNOWN_TYPE_99") {
			seen++
		}
	}
	if seen != n {
		t.Errorf("the trace saw %d unknown packets; want %d", seen, n)
	}
}
