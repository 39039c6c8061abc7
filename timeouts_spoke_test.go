package gearman_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// The run timeout starts at the worker's first report (WORK_STATUS here),
// not only at a GET_STATUS answer: against a server whose status answers
// always say the job waits, the job still fails with ErrRunTimeout, and
// the caller's deadline is not what ends it.
func TestRunTimeoutStartsAtWorkerReport(t *testing.T) {
	addr := fakeServer(t, func(nc net.Conn, r *wire.Reader) {
		for {
			p, err := r.Next()
			if err != nil {
				return
			}
			switch p.Type {
			case wire.OptionReq:
				nc.Write(resPacket(wire.OptionRes, string(p.Args[0])))
			case wire.SubmitJob:
				nc.Write(append(resPacket(wire.JobCreated, "H:fake:1"), resPacket(wire.WorkStatus, "H:fake:1", "1", "2")...))
			case wire.GetStatus:
				nc.Write(resPacket(wire.StatusRes, string(p.Args[0]), "1", "0", "0", "0"))
			}
		}
	})
	c := dial(t, addr, nil)
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, gearman.Job{Func: "f", RunTimeout: 50 * time.Millisecond})
	if !errors.Is(err, gearman.ErrRunTimeout) {
		t.Fatalf("Do: %v; want ErrRunTimeout, counted from the WORK_STATUS", err)
	}
}
