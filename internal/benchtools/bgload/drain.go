package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// drainers are -workers raw worker connections for -func that run every
// job the load queues (WORK_COMPLETE with an empty result at once) and
// time when the last one is done.
//
// A WORK_COMPLETE gets no answer, so each worker follows it with a
// GRAB_JOB on the same connection: the server answers packets of one
// connection in order, so that answer means the server has dealt with the
// WORK_COMPLETE (for a stored job: removed it from its store, as far as
// the server waits for that). The n-th such answer, over all workers, is
// the end of the run.
type drainers struct {
	n     int64
	acked atomic.Int64  // completes the server has answered past
	done  chan struct{} // closed at the n-th
	end   time.Time     // set before done is closed

	conns []net.Conn
	wg    sync.WaitGroup
	errs  []error
}

// startDrainers connects k workers for fn, worker i to addrs[i mod
// len(addrs)], and returns once the server has
// registered all of them (each has had its first NO_JOB). They run until
// close.
func startDrainers(ctx context.Context, addrs []string, fn string, k, n int) (*drainers, error) {
	d := &drainers{n: int64(n), done: make(chan struct{}), errs: make([]error, k)}
	if n == 0 {
		close(d.done)
	}
	ready := make(chan error, k)
	var dialer net.Dialer
	for i := range k {
		nc, err := dialer.DialContext(ctx, "tcp", addrs[i%len(addrs)])
		if err != nil {
			d.close()
			return nil, err
		}
		d.conns = append(d.conns, nc)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.errs[i] = d.work(nc, fn, ready)
		}()
	}
	for range k {
		select {
		case err := <-ready:
			if err != nil {
				d.close()
				return nil, err
			}
		case <-ctx.Done():
			d.close()
			return nil, ctx.Err()
		}
	}
	return d, nil
}

// wait returns when the n-th complete has been answered past, or ctx ends.
func (d *drainers) wait(ctx context.Context) (time.Time, error) {
	select {
	case <-d.done:
		return d.end, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("workers: %d of %d jobs done: %w", d.acked.Load(), d.n, ctx.Err())
	}
}

// close ends every worker and returns what failed before the end.
func (d *drainers) close() error {
	for _, nc := range d.conns {
		nc.Close()
	}
	d.wg.Wait()
	select {
	case <-d.done:
		return nil // errors after the last job are the closing's
	default:
		return errors.Join(d.errs...)
	}
}

// work is one worker connection's loop: GRAB_JOB; on JOB_ASSIGN,
// WORK_COMPLETE and GRAB_JOB again; on NO_JOB, PRE_SLEEP until a NOOP. It
// sends nil on ready at its first NO_JOB.
func (d *drainers) work(nc net.Conn, fn string, ready chan<- error) (err error) {
	first := true
	defer func() {
		if first {
			ready <- err
		}
	}()
	r := wire.NewReader(nc)
	w := bufio.NewWriter(nc)
	var pkt []byte
	send := func(t wire.Type, args ...[]byte) {
		pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, t, args...)
		w.Write(pkt)
	}
	send(wire.CanDo, []byte(fn))
	send(wire.GrabJob)
	if err := w.Flush(); err != nil {
		return err
	}
	pending := false // a WORK_COMPLETE sent whose GRAB_JOB has no answer yet
	for {
		p, err := r.Next()
		if err != nil {
			return fmt.Errorf("worker %s: %w", nc.LocalAddr(), err)
		}
		switch p.Type {
		case wire.JobAssign, wire.NoJob:
			if pending {
				pending = false
				if d.acked.Add(1) == d.n {
					d.end = time.Now()
					close(d.done)
				}
			}
			if p.Type == wire.JobAssign {
				send(wire.WorkComplete, p.Arg(0), nil)
				send(wire.GrabJob)
				pending = true
			} else {
				send(wire.PreSleep)
				if first {
					first = false
					ready <- nil
				}
			}
		case wire.Noop:
			send(wire.GrabJob)
		default:
			return fmt.Errorf("worker %s: got %v", nc.LocalAddr(), p)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}
