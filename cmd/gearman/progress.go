package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows the bytes sent and received on standard error, a terminal,
// once a transfer has lasted a second, refreshed twice a second on one line.
type progress struct {
	w          io.Writer
	mu         *sync.Mutex // standard error's
	sent, recv atomic.Int64
	done       chan struct{}
	finished   chan struct{}
}

func newProgress(w io.Writer, mu *sync.Mutex) *progress {
	p := &progress{w: w, mu: mu, done: make(chan struct{}), finished: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.finished)
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	shown := false
	var lastS, lastR int64 = -1, -1
	for {
		select {
		case <-p.done:
			if shown {
				p.mu.Lock()
				fmt.Fprintf(p.w, "\r%s\r", blank)
				p.mu.Unlock()
			}
			return
		case <-tick.C:
			s, r := p.sent.Load(), p.recv.Load()
			if time.Since(start) < time.Second || s == lastS && r == lastR {
				continue
			}
			lastS, lastR, shown = s, r, true
			p.mu.Lock()
			fmt.Fprintf(p.w, "\rgearman: %s sent, %s received ", size(s), size(r))
			p.mu.Unlock()
		}
	}
}

const blank = "                                                            "

// stop removes the line and ends the goroutine.
func (p *progress) stop() {
	close(p.done)
	<-p.finished
}

func (p *progress) received(n int) { p.recv.Add(int64(n)) }

// sending returns w counting what is written through it as sent.
func (p *progress) sending(w io.Writer) io.Writer { return &countingWriter{w: w, n: &p.sent} }

// receiving returns w counting what is written through it as received.
func (p *progress) receiving(w io.Writer) io.Writer { return &countingWriter{w: w, n: &p.recv} }

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// size formats a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
