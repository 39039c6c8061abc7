package gearmantest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

// Inside a synctest bubble the whole stack (pools, transport, server)
// runs in virtual time: a job that passes its worker's CAN_DO_TIMEOUT
// fails after exactly that long, at once in real time.
func TestSynctestCanDoTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		w := srv.Pool(nil)
		w.Register("stuck", gearman.BytesHandler(func(ctx context.Context, b []byte) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}), &gearman.RegisterOptions{Timeout: 30 * time.Second})
		synctest.Wait() // the worker has registered and sleeps
		if f := srv.Func("stuck"); f.Workers != 1 {
			t.Fatalf("%+v; want the worker registered", f)
		}
		start := time.Now()
		task, err := srv.Pool(nil).Submit(t.Context(), gearman.Job{Func: "stuck"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.Result(t.Context()); !errors.Is(err, gearman.ErrJobFailed) {
			t.Fatalf("got %v; want ErrJobFailed", err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("the job failed after %v; want exactly 30s", d)
		}
	})
}

// An epoch job runs when the bubble's clock reaches its time.
func TestSynctestEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		var ranAt atomic.Int64
		srv.HandleFunc("wake", func(ctx context.Context, b []byte) ([]byte, error) {
			ranAt.Store(time.Now().Unix())
			return nil, nil
		})
		at := time.Now().Add(6 * time.Hour)
		if _, err := srv.Pool(nil).Submit(t.Context(), gearman.Job{Func: "wake", Background: true, At: at}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6*time.Hour - time.Second)
		synctest.Wait()
		if ranAt.Load() != 0 {
			t.Fatal("the job ran early")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if ranAt.Load() != at.Unix() {
			t.Fatalf("the job ran at %d; want %d", ranAt.Load(), at.Unix())
		}
	})
}

// A submit to a stalled function ends with the caller's deadline, and a
// fake worker's Delay takes virtual time.
func TestSynctestDeadlineAndDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		srv.Fake("slow", gearmantest.Reply{Data: []byte("late"), Delay: time.Minute})
		p := srv.Pool(nil)
		start := time.Now()
		got, err := submit(t, t.Context(), p, gearman.Job{Func: "slow"})
		if err != nil || string(got) != "late" || time.Since(start) != time.Minute {
			t.Fatalf("got %q, %v after %v; want late after 1m", got, err, time.Since(start))
		}

		srv.Stall("slow")
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start = time.Now()
		task, err := p.Submit(ctx, gearman.Job{Func: "slow"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.Result(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("got %v after %v; want DeadlineExceeded after 5s", err, time.Since(start))
		}
	})
}

// Reconnect handling in virtual time: the connections drop and the server
// refuses for ten seconds; the pool comes back within its backoff after.
func TestSynctestReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := gearmantest.NewServer(t)
		srv.HandleFunc("echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
		p := srv.Pool(&gearman.PoolOptions{MinBackoff: time.Second, MaxBackoff: 2 * time.Second})
		if got, err := submit(t, t.Context(), p, gearman.Job{Func: "echo", Data: []byte("1")}); err != nil || string(got) != "1" {
			t.Fatalf("got %q, %v", got, err)
		}
		start := time.Now()
		srv.Refuse(10 * time.Second)
		srv.CloseClientConnections()
		synctest.Wait() // the pool has seen its connection go
		got, err := submit(t, t.Context(), p, gearman.Job{Func: "echo", Data: []byte("2")})
		if err != nil || string(got) != "2" {
			t.Fatalf("after reconnecting: %q, %v", got, err)
		}
		if d := time.Since(start); d < 10*time.Second || d > 13*time.Second {
			t.Errorf("reconnected after %v; want 10s plus at most the backoff", d)
		}
	})
}
