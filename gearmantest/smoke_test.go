package gearmantest_test

import (
	"context"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/gearmantest"
)

func TestSmoke(t *testing.T) {
	srv := gearmantest.NewServer(t)
	srv.HandleFunc("rev", func(ctx context.Context, b []byte) ([]byte, error) { return append(b, '!'), nil })
	p := srv.Pool(nil)
	task, err := p.Submit(t.Context(), gearman.Job{Func: "rev", Data: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.Result(t.Context())
	t.Logf("%q %v %+v %+v", got, err, srv.Workers(), srv.Submitted())
}
