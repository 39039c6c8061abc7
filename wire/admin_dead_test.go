package wire_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seed749d6d6d/gearman/wire"
)

func TestShowDeadRoundTrip(t *testing.T) {
	d := wire.DeadLetterInfo{
		Handle: "H:x:7", Function: "f", Unique: "u\tv", Attempts: 3,
		First: time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC), Last: time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC),
		Error: "line\none",
	}
	line := wire.AppendDeadLetter(nil, d)
	if want := "H:x:7\tf\tu v\t3\t2030-01-01T00:00:30Z\t2030-01-01T00:01:00Z\tline one\n"; string(line) != want {
		t.Fatalf("AppendDeadLetter = %q; want %q", line, want)
	}
	got, err := wire.ParseShowDead(line[:len(line)-1])
	d.Unique, d.Error = "u v", "line one"
	if err != nil || !cmp.Equal(got, d) {
		t.Errorf("ParseShowDead = %+v, %v; want %+v", got, err, d)
	}
	for _, bad := range []string{"H:x:7\tf\tu\t3\t2030-01-01T00:00:30Z\t2030-01-01T00:01:00Z", "H:x:7\tf\tu\tthree\t2030-01-01T00:00:30Z\t2030-01-01T00:01:00Z\te",
		"H:x:7\tf\tu\t3\tyesterday\t2030-01-01T00:01:00Z\te"} {
		if _, err := wire.ParseShowDead([]byte(bad)); !errors.Is(err, wire.ErrBadReply) {
			t.Errorf("ParseShowDead(%q) = %v; want ErrBadReply", bad, err)
		}
	}
}

func TestClusterStatusRoundTrip(t *testing.T) {
	f := wire.ClusterFunction{Function: "f", Queued: 1, Held: 2, Running: 3, Waiting: 4, Dead: 5}
	line := wire.AppendClusterFunction(nil, f)
	if string(line) != "f\t1\t2\t3\t4\t5\n" {
		t.Fatalf("AppendClusterFunction = %q", line)
	}
	if got, err := wire.ParseClusterStatus(line[:len(line)-1]); err != nil || got != f {
		t.Errorf("ParseClusterStatus = %+v, %v", got, err)
	}
	if _, err := wire.ParseClusterStatus([]byte("f\t1\t2")); !errors.Is(err, wire.ErrBadReply) {
		t.Errorf("ParseClusterStatus of a short line: %v; want ErrBadReply", err)
	}
}
