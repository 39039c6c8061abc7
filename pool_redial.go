package gearman

import (
	"time"

	"github.com/jpillora/backoff"
)

// A pool keeps each of its connections up by dialling again after a
// failure, with a backoff; its ordinary and grab-high connections
// (pool_priority.go) share the loop.

// newBackoff returns the pool's backoff between failed dials.
func (p *Pool) newBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: p.opts.MinBackoff, Max: p.opts.MaxBackoff, Factor: 2, Jitter: true}
}

// redial calls dial until it gives a connection, waiting b's backoff
// after each failure (and resetting b after a success). It returns nil
// once the pool closes, or when failed, told of a failure, says to stop.
func (p *Pool) redial(b *backoff.Backoff, dial func() (*Conn, error), failed func(error) bool) *Conn {
	for p.ctx.Err() == nil {
		c, err := dial()
		if err == nil {
			b.Reset()
			return c
		}
		if p.ctx.Err() != nil || !failed(err) {
			return nil
		}
		select {
		case <-time.After(b.Duration()):
		case <-p.ctx.Done():
			return nil
		}
	}
	return nil
}
