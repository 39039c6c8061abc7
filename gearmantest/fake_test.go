package gearmantest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

func TestFake(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	p := srv.Pool(nil)
	for _, tc := range []struct {
		name    string
		reply   gearmantest.Reply
		want    string
		wantErr func(error) bool
	}{
		{"data", gearmantest.Reply{Data: []byte("result")}, "result", nil},
		{"empty", gearmantest.Reply{}, "", nil},
		{"fail", gearmantest.Reply{Err: gearman.ErrJobFailed}, "", func(err error) bool {
			return errors.Is(err, gearman.ErrJobFailed)
		}},
		{"exception", gearmantest.Reply{Err: errors.New("out of paper")}, "", func(err error) bool {
			var je *gearman.JobException
			return errors.As(err, &je) && je.Message == "out of paper"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Fake(tc.name, tc.reply)
			got, err := submit(t, ctx, p, gearman.Job{Func: tc.name, Data: []byte("in")})
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("got %q, %v; want a matching error", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestFakeStatus(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.Fake("progress", gearmantest.Reply{Data: []byte("done"), Status: []gearman.Status{{Numerator: 1, Denominator: 2}, {Numerator: 2, Denominator: 2}}})
	task, err := srv.Pool(nil).Submit(ctx, gearman.Job{Func: "progress"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.Result(ctx)
	if err != nil || string(got) != "done" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The channel keeps the latest report.
	select {
	case st := <-task.Status():
		if st != (gearman.Status{Numerator: 2, Denominator: 2}) {
			t.Errorf("status %+v; want 2/2", st)
		}
	default:
		t.Error("no status report")
	}
}

func TestHandleFunc(t *testing.T) {
	srv := gearmantest.NewServer(t)
	ctx := testCtx(t)
	srv.HandleFunc("sum", func(ctx context.Context, b []byte) ([]byte, error) {
		n := 0
		for _, c := range b {
			n += int(c - '0')
		}
		if n == 0 {
			return nil, fmt.Errorf("nothing to add: %w", gearman.ErrJobFailed)
		}
		return fmt.Appendf(nil, "%d", n), nil
	})
	p := srv.Pool(nil)
	if got, err := submit(t, ctx, p, gearman.Job{Func: "sum", Data: []byte("1234")}); err != nil || string(got) != "10" {
		t.Fatalf("got %q, %v; want 10", got, err)
	}
	if _, err := submit(t, ctx, p, gearman.Job{Func: "sum"}); !errors.Is(err, gearman.ErrJobFailed) {
		t.Fatalf("got %v; want ErrJobFailed", err)
	}
	// Registering again replaces the handler; the server still shows one
	// fake worker serving the function.
	srv.HandleFunc("sum", func(ctx context.Context, b []byte) ([]byte, error) { return []byte("new"), nil })
	if got, err := submit(t, ctx, p, gearman.Job{Func: "sum", Data: []byte("1")}); err != nil || string(got) != "new" {
		t.Fatalf("after replacing: %q, %v", got, err)
	}
	want := []gearmantest.Worker{{ClientID: "gearmantest", Funcs: []string{"sum"}}}
	if diff := cmp.Diff(want, srv.Workers()); diff != "" {
		t.Errorf("workers (-want +got):\n%s", diff)
	}
}
