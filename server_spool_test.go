package gearman_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

const window = 256 << 10 // the extension's initial credit window

// A stream job that no worker has taken gets no credit beyond the initial
// window, however long it waits: the server used to grant a client credit
// up to MaxPacketSize when no extension worker was registered, and held
// what came (690 MiB of memory for a 200 MiB payload). Credit comes as a
// worker takes the payload.
func TestServerStreamCreditWaitsForWorker(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	c := streamPeer(t, addr)
	c.Send(wire.SubmitStream, "1", "7", "f", strings.Repeat("x", window))
	h := c.ExpectType(wire.JobCreated).Args[0]
	c.Send(wire.EchoReq, "sync") // anything granted by now comes first
	c.Expect(wire.EchoRes, "sync")

	w := streamPeer(t, addr)
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	if a := w.ExpectType(wire.JobAssignStream); a.Args[0] != h || len(a.Args[2]) != window {
		t.Fatalf("the worker got %v with %d bytes; want %s with the window", a.Type, len(a.Args[2]), h)
	}
	w.Send(wire.PayloadWindow, h, strconv.Itoa(window))
	c.Expect(wire.PayloadWindow, "1", strconv.Itoa(window))
}

// A streamed payload for a worker without the extension is spooled whole,
// up to MaxSpool (by default MaxPacketSize less 64 KiB); a longer one fails
// at once with an error that says why (its writer used to block until its
// context ended).
func TestServerStreamSpoolLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  *gearman.Server
		size int64
		ok   bool
	}{
		{"past MaxPacketSize", &gearman.Server{MaxPacketSize: 1 << 20}, 2 << 20, false},
		{"MaxSpool", &gearman.Server{MaxSpool: 1 << 20}, 1 << 20, true},
		{"past MaxSpool", &gearman.Server{MaxSpool: 1 << 20}, 1<<20 + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := srvStart(t, tc.srv)
			w := dial(t, addr, nil) // a worker without the extension
			if err := w.Register("up", copyHandler, nil); err != nil {
				t.Fatal(err)
			}
			c := dial(t, addr, &gearman.Options{Streaming: true})
			ctx := testCtx(t)
			task, err := c.Open(ctx, gearman.Job{Func: "up"})
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("p"), int(tc.size))
			_, werr := io.Copy(task, bytes.NewReader(payload))
			if werr == nil {
				werr = task.Close()
			}
			got, err := task.Result(ctx)
			if tc.ok {
				if werr != nil || err != nil || !bytes.Equal(got, bytes.ToUpper(payload)) {
					t.Fatalf("got %d bytes, %v (writing: %v); want the payload in upper case", len(got), err, werr)
				}
				return
			}
			t.Logf("writing: %v; Result: %v", werr, err)
			var je *gearman.JobException
			if !errors.As(err, &je) || !strings.Contains(je.Message, "MaxSpool") {
				t.Errorf("Result: %v; want a JobException naming MaxSpool", err)
			}
			// A writer that has not finished when the job fails gets the
			// failure; one just past MaxSpool may have finished first.
			if errors.Is(werr, context.DeadlineExceeded) || werr == nil && tc.size >= 2<<20 {
				t.Errorf("writing the payload: %v; want the job's failure", werr)
			}
		})
	}
}

// MaxSpoolTotal bounds what the server spools for workers without the
// extension across all jobs: a payload that needs more fails at once, and
// what a worker took is free again.
func TestServerStreamSpoolTotal(t *testing.T) {
	addr := srvStart(t, &gearman.Server{MaxSpool: 1 << 20, MaxSpoolTotal: 1 << 20})
	w := wiretest.Dial(t, addr) // a worker without the extension, not grabbing yet
	w.Send(wire.CanDo, "f")
	w.Sync()

	// a's payload of 1 MiB (MaxSpool) takes 768 KiB of the spool, past its
	// first window, and the credit it has left (up to 128 KiB) some more.
	a := spoolPeer(t, addr)
	if sent, end := streamSend(t, a, 1<<20); end.Type != 0 {
		t.Fatalf("after %d bytes: got %v; want credit for 1 MiB", sent, end)
	}
	syncCredit(t, a) // a's share of the spool is settled before b's
	// b gets what is left, then fails.
	b := spoolPeer(t, addr)
	sent, end := streamSend(t, b, 1<<20)
	if end.Type != wire.WorkException || !strings.Contains(end.Args[1], "MaxSpoolTotal") {
		t.Fatalf("after %d bytes: got %v; want WORK_EXCEPTION naming MaxSpoolTotal", sent, end)
	}
	if sent >= window+window {
		t.Errorf("b sent %d bytes; want less than the room a left", sent)
	}
	b.Expect(wire.StreamAbort, "1")
	b.Send(wire.StreamAbort, "1")

	// Once the worker has taken a's job, the spool is free again.
	a.Send(wire.StreamEnd, "1")
	syncCredit(t, a)
	w.Send(wire.GrabJob)
	if got := w.ExpectType(wire.JobAssign); len(got.Args[2]) != 1<<20 {
		t.Fatalf("the worker got %d bytes; want 1 MiB", len(got.Args[2]))
	}
	c := spoolPeer(t, addr)
	if sent, end := streamSend(t, c, 1<<20); end.Type != 0 {
		t.Fatalf("after %d bytes: got %v; want credit for 1 MiB", sent, end)
	}
}

// spoolPeer dials an extension client with exceptions on, and submits a
// foreground stream job of "f" as stream 1, with no payload yet.
func spoolPeer(t *testing.T, addr string) *wiretest.Peer {
	t.Helper()
	p := streamPeer(t, addr)
	p.Send(wire.OptionReq, "exceptions")
	p.Expect(wire.OptionRes, "exceptions")
	p.Send(wire.SubmitStream, "1", "7", "f", "")
	p.ExpectType(wire.JobCreated)
	return p
}

// streamSend sends n bytes of payload on p's stream 1, which has its
// initial window, as the server grants credit. It returns the bytes sent,
// and the first packet other than PAYLOAD_WINDOW if one came before it
// could send them all.
func streamSend(t *testing.T, p *wiretest.Peer, n int) (sent int, end wiretest.Pkt) {
	t.Helper()
	credit := window
	for sent < n {
		if credit == 0 {
			pk := p.Next()
			if pk.Type != wire.PayloadWindow {
				return sent, pk
			}
			d, _ := strconv.Atoi(pk.Args[1])
			credit += d
			continue
		}
		k := min(credit, 64<<10, n-sent)
		p.Send(wire.StreamData, "1", strings.Repeat("x", k))
		sent += k
		credit -= k
	}
	return sent, wiretest.Pkt{}
}

// A payload spooled for a worker without the extension, in chunks of odd
// sizes, reaches whichever worker takes it unchanged: the plain worker
// whole, or an extension worker that registers meanwhile as a stream,
// what was spooled first.
func TestServerStreamSpoolIntact(t *testing.T) {
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain worker", true: "extension worker"}[ext], func(t *testing.T) {
			addr := srvStart(t, &gearman.Server{})
			plain := wiretest.Dial(t, addr)
			plain.Send(wire.CanDo, "f")
			plain.Sync()
			c := spoolPeer(t, addr)
			var payload []byte
			src := &pattern{3}
			credit := window
			for len(payload) < 3<<20+12345 {
				if credit == 0 {
					pk := c.ExpectType(wire.PayloadWindow)
					d, _ := strconv.Atoi(pk.Args[1])
					credit += d
					continue
				}
				b := make([]byte, min(credit, 100<<10+1, 3<<20+12345-len(payload)))
				src.Read(b)
				payload = append(payload, b...)
				c.Send(wire.StreamData, "1", string(b))
				credit -= len(b)
			}
			syncCredit(t, c) // the server has it all before a worker comes
			var got []byte
			if ext {
				w := streamPeer(t, addr)
				w.Send(wire.CanDo, "f")
				w.Send(wire.GrabJob)
				a := w.ExpectType(wire.JobAssignStream)
				h := a.Args[0]
				got = append(got, a.Args[2]...)
				c.Send(wire.StreamEnd, "1")
				for {
					w.Send(wire.PayloadWindow, h, strconv.Itoa(window))
					pk := w.Next()
					if pk.Type == wire.StreamEnd {
						break
					}
					if pk.Type != wire.StreamData {
						t.Fatalf("the worker got %v; want STREAM_DATA", pk)
					}
					got = append(got, pk.Args[1]...)
				}
			} else {
				c.Send(wire.StreamEnd, "1")
				syncCredit(t, c)
				plain.Send(wire.GrabJob)
				got = []byte(plain.ExpectType(wire.JobAssign).Args[2])
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("the worker got %d bytes; want the %d sent, unchanged", len(got), len(payload))
			}
		})
	}
}

// syncCredit makes sure the server has handled everything p sent before,
// as wiretest.Peer.Sync does, skipping the PAYLOAD_WINDOW packets that come first.
func syncCredit(t *testing.T, p *wiretest.Peer) {
	t.Helper()
	p.Send(wire.EchoReq, "sync")
	for pk := p.Next(); pk.Type != wire.EchoRes; pk = p.Next() {
		if pk.Type != wire.PayloadWindow {
			t.Fatalf("got %v; want PAYLOAD_WINDOW or ECHO_RES", pk)
		}
	}
}
