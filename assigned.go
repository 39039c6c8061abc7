package gearman

import (
	"context"
	"errors"
	"sync"

	"github.com/seed749d6d6d/gearman/wire"
)

// startNotices is a connection's state of the job-assigned option
// (wire.OptionAssigned): this package's server then tells the client when
// each of its foreground jobs starts, so that a RunTimeout counts from the
// assignment without asking GET_STATUS. It is negotiated at the first job
// with a RunTimeout, once per connection; a server that refuses it
// (gearmand) is remembered, and its jobs' starts are polled (see
// watchTimeouts).
type startNotices struct {
	mu       sync.Mutex
	state    noticeState
	inflight chan struct{} // closed when the OPTION_REQ in flight is answered
}

type noticeState int8

const (
	noticesUnknown noticeState = iota // not asked yet, or asking failed
	noticesOn                         // the server tells
	noticesOff                        // the server refused the option
)

// startsNoticed reports whether c's server tells when c's jobs start,
// asking it (one OPTION_REQ, one round trip) the first time. Callers that
// come while it is asked wait for the answer. An error is ctx's or the
// connection's: the question is asked again next time.
func (c *Conn) startsNoticed(ctx context.Context) (bool, error) {
	n := &c.starts
	for {
		n.mu.Lock()
		switch n.state {
		case noticesOn:
			n.mu.Unlock()
			return true, nil
		case noticesOff:
			n.mu.Unlock()
			return false, nil
		}
		if ch := n.inflight; ch != nil {
			n.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		ch := make(chan struct{})
		n.inflight = ch
		n.mu.Unlock()

		err := c.Option(ctx, wire.OptionAssigned)
		n.mu.Lock()
		switch {
		case err == nil:
			n.state = noticesOn
		case errors.Is(err, ErrNotSupported):
			n.state, err = noticesOff, nil
			c.opts.Logger.Debug("gearman: server does not tell when jobs start; run timeouts poll GET_STATUS", "server", c.addr)
		}
		n.inflight = nil
		close(ch)
		on := n.state == noticesOn
		n.mu.Unlock()
		return on, err
	}
}
