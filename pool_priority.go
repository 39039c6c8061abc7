package gearman

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed749d6d6d/gearman/wire"
)

// Priority slots ([PoolOptions.ReservedHigh]): a pool keeps some of its
// MaxJobs slots for high-priority jobs. GRAB_JOB cannot ask for a priority
// and JOB_ASSIGN does not tell it, so a worker that has taken a job cannot
// know it was a low one, nor give it back. The pool therefore runs two
// connections to each server: the ordinary one grabs any job, within
// MaxJobs-ReservedHigh slots; the other negotiates wire.OptionGrabHigh, by
// which this package's server hands it high-priority jobs only, within
// the pool's MaxJobs. Low and normal jobs then hold at most
// MaxJobs-ReservedHigh slots, and high jobs can have them all.
//
// A server without the option (gearmand) gets the ordinary connection
// alone: the pool runs at most MaxJobs-ReservedHigh jobs from it, so a
// flood of low jobs still never takes every slot, but the reserved slots
// stay empty there. When a slot frees, gearmand hands out a queued high
// job of a function before its normal and low ones.

// checkReserved validates ReservedHigh against MaxJobs.
func checkReserved(o *PoolOptions) error {
	if o.ReservedHigh < 0 || o.ReservedHigh > 0 && o.ReservedHigh >= o.MaxJobs {
		return fmt.Errorf("gearman: PoolOptions.ReservedHigh is %d; want 0, or fewer than MaxJobs (%d)", o.ReservedHigh, o.MaxJobs)
	}
	return nil
}

// startHigh starts the grab-high connections' supervisors, one per
// server, when the pool reserves slots and a first function is registered:
// a pool that only submits needs none. p.mu held, the pool not closed.
func (p *Pool) startHigh() {
	if p.opts.ReservedHigh == 0 || p.highOn {
		return
	}
	p.highOn = true
	for _, addr := range p.addrs {
		p.wg.Add(1)
		go p.superviseHigh(addr)
	}
}

// superviseHigh keeps the grab-high connection to one server up until the
// pool closes, or until the server says it does not know the option.
func (p *Pool) superviseHigh(addr string) {
	defer p.wg.Done()
	b := p.newBackoff()
	for {
		c := p.redial(b, func() (*Conn, error) { return p.dialHigh(addr) }, func(err error) bool {
			if errors.Is(err, ErrNotSupported) {
				p.opts.Logger.Info("gearman: server cannot hand out high-priority jobs alone; its reserved slots stay empty", "server", addr, "error", err)
				return false
			}
			p.opts.Logger.Debug("gearman: dial for high-priority jobs failed", "server", addr, "error", err)
			return true
		})
		if c == nil {
			return
		}
		if !p.attachHigh(c) {
			c.Close()
			return
		}
		select {
		case <-c.Done():
		case <-p.ctx.Done():
		}
		p.detachHigh(c)
		c.Close()
	}
}

// dialHigh dials a connection that takes only high-priority jobs.
func (p *Pool) dialHigh(addr string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.DialTimeout)
	defer cancel()
	nc, err := dialNet(ctx, addr, &p.opts.Options)
	if err != nil {
		return nil, err
	}
	c, err := newConn(ctx, nc, addr, p.opts.Options, p.highBudget)
	if err != nil {
		return nil, err
	}
	if err := c.Option(ctx, wire.OptionGrabHigh); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// attachHigh registers the pool's functions on a grab-high connection.
func (p *Pool) attachHigh(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for fn, reg := range p.funcs {
		if err := c.Register(fn, reg.h, &reg.opts); err != nil {
			p.opts.Logger.Warn("gearman: register failed", "server", c.addr, "function", fn, "error", err)
		}
	}
	p.high = append(p.high, c)
	return true
}

func (p *Pool) detachHigh(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.high {
		if x == c {
			p.high = append(p.high[:i], p.high[i+1:]...)
			return
		}
	}
}

// workers returns every connection that serves the pool's functions: the
// live ones and the grab-high ones. p.mu held.
func (p *Pool) workers() []*Conn {
	return append(append([]*Conn(nil), p.live...), p.high...)
}
