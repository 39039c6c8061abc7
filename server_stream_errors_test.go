package gearman_test

import (
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// streamPeer dials our server and negotiates the streaming extension.
func streamPeer(t *testing.T, addr string) *wiretest.Peer {
	t.Helper()
	p := wiretest.Dial(t, addr)
	p.Send(wire.OptionReq, "streaming")
	p.Expect(wire.OptionRes, "streaming")
	p.Send(wire.OptionReq, "stream-chunks")
	p.Expect(wire.OptionRes, "stream-chunks")
	return p
}

// The extension's protocol errors get ERROR STREAM_ERROR and close only the
// connection that made them; packets of the extension on a connection that
// did not negotiate it get INVALID_COMMAND.
func TestServerStreamProtocolErrors(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	// An extension worker of f, which never grabs: the server then holds a
	// stream's payload to one window instead of spooling it for a plain
	// worker, and a client's credit stays at the initial window.
	w := streamPeer(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.EchoReq, "registered")
	w.Expect(wire.EchoRes, "registered")
	window := strings.Repeat("x", 256<<10)
	for _, tc := range []struct {
		name string
		send func(p *wiretest.Peer)
	}{
		{"chunk beyond credit", func(p *wiretest.Peer) {
			p.Send(wire.SubmitStream, "1", "7", "f", window)
			p.ExpectType(wire.JobCreated)
			p.Send(wire.StreamData, "1", "one byte too many")
		}},
		{"unknown stream id", func(p *wiretest.Peer) {
			p.Send(wire.StreamData, "nope", "x")
		}},
		{"reused stream id", func(p *wiretest.Peer) {
			p.Send(wire.SubmitStream, "1", "7", "f", "a")
			p.ExpectType(wire.JobCreated)
			p.Send(wire.SubmitStream, "1", "7", "f", "b")
		}},
		{"bad delta", func(p *wiretest.Peer) {
			p.Send(wire.SubmitStream, "1", "7", "f", "a")
			h := p.ExpectType(wire.JobCreated)
			p.Send(wire.ResultWindow, string(h.Args[0]), "-5")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := streamPeer(t, addr)
			tc.send(p)
			got := p.Next()
			for got.Type == wire.PayloadWindow {
				got = p.Next()
			}
			if got.Type != wire.Error || string(got.Args[0]) != "STREAM_ERROR" {
				t.Errorf("got %v; want ERROR STREAM_ERROR", got)
			}
			p.ExpectClosed()
			// The server goes on for everyone else.
			other := wiretest.Dial(t, addr)
			other.Send(wire.EchoReq, "alive")
			other.Expect(wire.EchoRes, "alive")
		})
	}

	t.Run("without the option", func(t *testing.T) {
		p := wiretest.Dial(t, addr)
		p.Send(wire.SubmitStream, "1", "7", "f", "a")
		got := p.ExpectType(wire.Error)
		if string(got.Args[0]) != "INVALID_COMMAND" {
			t.Errorf("got %v; want ERROR INVALID_COMMAND", got)
		}
	})
}
