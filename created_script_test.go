package gearman_test

import (
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Created is closed once the server has created the job, whether it is
// asked for before, after or never until the task has ended; and when a
// submit is refused, with no handle.
func TestScriptCreated(t *testing.T) {
	c, p := scriptConn(t, nil, true)
	ctx := testCtx(t)

	// Asked for before the submit: closed by JOB_CREATED.
	early, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	created := early.Created()
	if isClosed(created) {
		t.Fatal("Created closed before the submit")
	}
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}
	p.Expect(wire.SubmitJob)
	barrier(t, c, p)
	if isClosed(created) {
		t.Fatal("Created closed before JOB_CREATED")
	}
	p.Send(wire.JobCreated, "H:1")
	recv(t, created)
	if h := early.Handle(); h != "H:1" {
		t.Fatalf("handle %q after Created", h)
	}
	if !isClosed(early.Created()) {
		t.Fatal("a later Created is not closed")
	}

	// First asked for once the task has ended: closed.
	late, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	p.Expect(wire.SubmitJob)
	p.Send(wire.JobCreated, "H:2")
	p.Send(wire.WorkComplete, "H:2", "done")
	if got, err := late.Result(ctx); err != nil || string(got) != "done" {
		t.Fatalf("result %q, %v", got, err)
	}
	if !isClosed(late.Created()) || late.Handle() != "H:2" {
		t.Fatalf("after the end: Created closed %v, handle %q", isClosed(late.Created()), late.Handle())
	}

	// Refused: Created is closed with no handle, and the task is done.
	refused, err := c.Open(ctx, gearman.Job{Func: "f"})
	if err != nil {
		t.Fatal(err)
	}
	created = refused.Created()
	if err := refused.Close(); err != nil {
		t.Fatal(err)
	}
	p.Expect(wire.SubmitJob)
	p.Send(wire.Error, "QUEUE_FULL", "no room")
	recv(t, created)
	if !isClosed(refused.Done()) || refused.Handle() != "" || refused.Err() == nil {
		t.Fatalf("refused: done %v, handle %q, err %v", isClosed(refused.Done()), refused.Handle(), refused.Err())
	}
	p.Send(wire.WorkComplete, "H:1", "")
	if _, err := early.Result(ctx); err != nil {
		t.Fatal(err)
	}
}
