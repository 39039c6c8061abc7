package jobserver_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

func TestServerAdminExactBytes(t *testing.T) {
	addr := start(t, jobserver.Config{Version: "9.9-test"})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "fa", "ua", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobHighBg, "fa", "", "x")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJobLow, "fb", "ub", "x")
	c.Expect(wire.JobCreated, "H:test:3")
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "fa")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "fa", "x")
	a := wiretest.Dial(t, addr)
	pid := os.Getpid()
	for _, tc := range []struct {
		cmd  string
		list bool
		want string
	}{
		{"status", true, "fa\t2\t1\t1\nfb\t1\t0\t0\n.\n"},
		{"STATUS extra words", true, "fa\t2\t1\t1\nfb\t1\t0\t0\n.\n"},
		{"prioritystatus", true, "fa\t0\t1\t0\t1\nfb\t0\t0\t1\t0\n.\n"},
		{"show jobs", true, "H:test:1\t0\t0\t1\nH:test:2\t0\t0\t1\nH:test:3\t0\t0\t0\n.\n"},
		{"show unique jobs", true, "ua\n\nub\n.\n"},
		{"show nothing", false, "ERR UNKNOWN_SHOW_ARGUMENTS\r\n"},
		{"show", false, "ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"},
		{"version", false, "OK 9.9-test\n"},
		{"verbose", false, "OK ERROR\n"},
		{"getpid", false, fmt.Sprintf("OK %d\n", pid)},
		{"bogus", false, "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"},
		{"", false, "ERR UNKNOWN_COMMAND Unknown+server+command\r\n"},
		{"  status", false, "ERR UNKNOWN_COMMAND Unknown+server+command\r\n"},
		{"shutdown", false, "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"},
		{"maxqueue", false, "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"},
		{"create function", false, "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n"},
		{"cancel job H:test:99", false, "ERR UNKNOWN_JOB\r\n"},
		{"cancel x y", false, "ERR UNKNOWN_ERROR\r\n"},
		{"cancel job H:test:3", false, "OK\r\n"},
		{"create function newf", false, "OK\r\n"},
		{"drop function NEWF", false, "OK\r\n"},
		{"drop function fa", false, "ERR there are still connected workers or executing clients\r\n"},
		{"drop function nope", false, "ERR function not found\r\n"},
		{"status", true, "fa\t2\t1\t1\nfb\t0\t0\t0\n.\n"},
	} {
		if got := a.Admin(tc.cmd, tc.list); got != tc.want {
			t.Errorf("%q: got %q; want %q", tc.cmd, got, tc.want)
		}
	}
	c.Expect(wire.WorkFail, "H:test:3") // from cancel job
	wk := a.Admin("workers", true)
	re := regexp.MustCompile(`^\d+ 127\.0\.0\.1 - :\n\d+ 127\.0\.0\.1 - : fa\n\d+ 127\.0\.0\.1 - :\n\.\n$`)
	if !re.MatchString(wk) {
		t.Errorf("workers = %q", wk)
	}
	// Binary and text mix on one connection.
	a.Send(wire.EchoReq, "bin")
	a.Expect(wire.EchoRes, "bin")
	if got := a.Admin("version", false); got != "OK 9.9-test\n" {
		t.Errorf("version after binary = %q", got)
	}
	// LF-only lines work, and create function keeps the whole name.
	a.SendRaw([]byte("create function lfonly\n"))
	if got := a.Admin("status", true); !strings.Contains(got, "lfonly\t0\t0\t0\n") {
		t.Errorf("status = %q", got)
	}
}

func TestServerMaxQueue(t *testing.T) {
	addr := start(t, jobserver.Config{})
	a := wiretest.Dial(t, addr)
	c := wiretest.Dial(t, addr)
	for range 3 {
		c.Send(wire.SubmitJobBg, "mq", "", "x")
		c.ExpectType(wire.JobCreated)
	}
	if got := a.Admin("maxqueue mq 0 1 5", false); got != "OK\r\n" {
		t.Fatalf("maxqueue = %q", got)
	}
	if got := a.Admin("maxqueue unknownfn 1", false); got != "OK\r\n" {
		t.Fatalf("maxqueue unknown = %q", got)
	}
	c.Send(wire.SubmitJobHighBg, "mq", "", "x") // HIGH: no limit
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobBg, "mq", "", "x") // NORMAL: 4 jobs >= 1
	c.Expect(wire.Error, "QUEUE_ERROR", "Job queue is full")
	c.Send(wire.SubmitJobLow, "mq", "", "x") // LOW: 4 < 5
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobLow, "mq", "", "x") // LOW: 5 >= 5
	c.Expect(wire.Error, "QUEUE_ERROR", "Job queue is full")
	if got := a.Admin("maxqueue mq", false); got != "OK\r\n" {
		t.Fatalf("maxqueue reset = %q", got)
	}
	c.Send(wire.SubmitJobBg, "mq", "", "x")
	c.ExpectType(wire.JobCreated)
	// The MaxQueue field sets every new function's limit.
	addr2 := start(t, jobserver.Config{MaxQueue: 1})
	c2 := wiretest.Dial(t, addr2)
	c2.Send(wire.SubmitJobBg, "f", "", "x")
	c2.ExpectType(wire.JobCreated)
	c2.Send(wire.SubmitJobHighBg, "f", "", "x")
	c2.Expect(wire.Error, "QUEUE_ERROR", "Job queue is full")
}
