package gearman_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/wire"
)

// adminSetup starts gearmand with a worker for "adm_work" and three queued
// background jobs of "adm_queue" (one high, two normal, with unique ids u1,
// u2, u3), and returns its address.
func adminSetup(t *testing.T) string {
	t.Helper()
	gearmanTool := peertest.Require(t, "gearman")
	addr := peertest.Gearmand(t)
	h, p := peertest.HostPort(t, addr)
	peertest.Start(t, gearmanTool, "-h", h, "-p", p, "-w", "-f", "adm_work", "--", "cat")
	peertest.Run(t, nil, 10*time.Second, gearmanTool, "-h", h, "-p", p, "-b", "-I", "-u", "u1", "-f", "adm_queue", "-s")
	peertest.Run(t, nil, 10*time.Second, gearmanTool, "-h", h, "-p", p, "-b", "-u", "u2", "-f", "adm_queue", "-s")
	peertest.Run(t, nil, 10*time.Second, gearmanTool, "-h", h, "-p", p, "-b", "-u", "u3", "-f", "adm_queue", "-s")
	a := adminDial(t, addr)
	adminWait(t, func() bool {
		st, err := a.Status(context.Background())
		return err == nil && adminFind(st, "adm_work").Workers == 1
	})
	return addr
}

func adminDial(t *testing.T, addr string) *gearman.AdminClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := gearman.DialAdmin(ctx, addr, nil)
	if err != nil {
		t.Fatalf("DialAdmin: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func adminWait(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
	}
}

func adminFind(st []gearman.FunctionStatus, fn string) gearman.FunctionStatus {
	for _, s := range st {
		if s.Function == fn {
			return s
		}
	}
	return gearman.FunctionStatus{Function: "(missing)", Queued: -1, Running: -1, Workers: -1}
}

func TestAdminGearmand(t *testing.T) {
	addr := adminSetup(t)
	a := adminDial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("Version", func(t *testing.T) {
		v, err := a.Version(ctx)
		if err != nil || !strings.HasPrefix(v, "1.1.") {
			t.Fatalf("Version = %q, %v; want 1.1.x", v, err)
		}
	})
	t.Run("Verbose", func(t *testing.T) {
		v, err := a.Verbose(ctx)
		if err != nil || v != "WARNING" {
			t.Fatalf("Verbose = %q, %v; want WARNING", v, err)
		}
	})
	t.Run("PID", func(t *testing.T) {
		pid, err := a.PID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h, p := peertest.HostPort(t, addr)
		out := peertest.Run(t, nil, 10*time.Second, peertest.Require(t, "gearadmin"), "-h", h, "-p", p, "--getpid")
		if want, _ := strconv.Atoi(strings.TrimSpace(string(out))); pid != want || pid <= 0 {
			t.Fatalf("PID = %d, gearadmin says %q", pid, out)
		}
	})
	t.Run("Status", func(t *testing.T) {
		st, err := a.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := adminFind(st, "adm_queue"), (gearman.FunctionStatus{Function: "adm_queue", Queued: 3}); got != want {
			t.Errorf("adm_queue = %+v, want %+v", got, want)
		}
		if got, want := adminFind(st, "adm_work"), (gearman.FunctionStatus{Function: "adm_work", Workers: 1}); got != want {
			t.Errorf("adm_work = %+v, want %+v", got, want)
		}
	})
	t.Run("PriorityStatus", func(t *testing.T) {
		ps, err := a.PriorityStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := gearman.PriorityStatus{Function: "adm_queue", High: 1, Normal: 2}
		if !slices.Contains(ps, want) {
			t.Errorf("PriorityStatus = %+v, want it to hold %+v", ps, want)
		}
	})
	t.Run("Workers", func(t *testing.T) {
		ws, err := a.Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, w := range ws {
			if slices.Equal(w.Functions, []string{"adm_work"}) {
				n++
				if w.Addr != "127.0.0.1" || w.ClientID != "-" || w.FD <= 0 {
					t.Errorf("worker = %+v", w)
				}
			}
		}
		if n != 1 {
			t.Errorf("Workers = %+v, want one registered for adm_work", ws)
		}
	})
	t.Run("ShowUniqueJobs", func(t *testing.T) {
		u, err := a.ShowUniqueJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(u)
		if !slices.Equal(u, []string{"u1", "u2", "u3"}) {
			t.Errorf("ShowUniqueJobs = %q, want u1 u2 u3", u)
		}
	})
	t.Run("ShowJobsAndCancel", func(t *testing.T) {
		jobs, err := a.ShowJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 3 {
			t.Fatalf("ShowJobs = %+v, want 3 jobs", jobs)
		}
		for _, j := range jobs {
			if !strings.HasPrefix(j.Handle, "H:") || j.Ignore || !j.Persisted {
				t.Errorf("job = %+v", j)
			}
		}
		if err := a.CancelJob(ctx, jobs[0].Handle); err != nil {
			t.Fatalf("CancelJob(%s): %v", jobs[0].Handle, err)
		}
		after, err := a.ShowJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(after, func(j gearman.JobInfo) bool { return j.Handle == jobs[0].Handle && !j.Ignore }) {
			t.Errorf("job %s still live after CancelJob: %+v", jobs[0].Handle, after)
		}
		err = a.CancelJob(ctx, "H:nowhere:1")
		var ae *gearman.AdminError
		if !errors.As(err, &ae) || ae.Code != "UNKNOWN_JOB" || ae.Command != "cancel job" {
			t.Fatalf("CancelJob(unknown) = %v, want an AdminError UNKNOWN_JOB", err)
		}
		if errors.Is(err, gearman.ErrUnknownCommand) {
			t.Errorf("UNKNOWN_JOB matches ErrUnknownCommand")
		}
	})
	t.Run("CreateDropFunction", func(t *testing.T) {
		if err := a.CreateFunction(ctx, "adm_new"); err != nil {
			t.Fatal(err)
		}
		st, _ := a.Status(ctx)
		if got := adminFind(st, "adm_new"); got != (gearman.FunctionStatus{Function: "adm_new"}) {
			t.Fatalf("after CreateFunction: %+v (name truncated?)", got)
		}
		if err := a.DropFunction(ctx, "adm_new"); err != nil {
			t.Fatal(err)
		}
		st, _ = a.Status(ctx)
		if got := adminFind(st, "adm_new"); got.Function != "(missing)" {
			t.Fatalf("after DropFunction: %+v", got)
		}
		err := a.DropFunction(ctx, "adm_new")
		var ae *gearman.AdminError
		if !errors.As(err, &ae) || ae.Line != "ERR function not found" {
			t.Fatalf("DropFunction(unknown) = %v, want ERR function not found", err)
		}
		err = a.DropFunction(ctx, "adm_work")
		if !errors.As(err, &ae) || !strings.Contains(ae.Line, "still connected workers") {
			t.Fatalf("DropFunction(with a worker) = %v", err)
		}
	})
	t.Run("MaxQueue", func(t *testing.T) {
		if err := a.MaxQueueAll(ctx, "adm_queue", 2); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		submit := func() wire.Type {
			b, _ := wire.AppendPacket(nil, wire.Req, wire.SubmitJobBg, []byte("adm_queue"), nil, []byte("x"))
			c.Write(b)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			p, err := wire.NewReader(c).Next()
			if err != nil {
				t.Fatal(err)
			}
			return p.Type
		}
		if got := submit(); got != wire.Error {
			t.Fatalf("submit over maxqueue 2 answered %v, want ERROR", got)
		}
		if err := a.MaxQueue(ctx, "adm_queue", 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		if got := submit(); got != wire.JobCreated {
			t.Fatalf("submit with no limit answered %v, want JOB_CREATED", got)
		}
	})
	t.Run("Shutdown", func(t *testing.T) {
		err := a.Shutdown(ctx, true)
		var ae *gearman.AdminError
		if !errors.Is(err, gearman.ErrUnknownCommand) || !errors.As(err, &ae) || ae.Command != "shutdown" {
			t.Fatalf("Shutdown = %v, want UNKNOWN_COMMAND from gearmand 1.1.20", err)
		}
		if _, err := a.Version(ctx); err != nil {
			t.Fatalf("Version after an ERR: %v", err)
		}
	})
	t.Run("BadArguments", func(t *testing.T) {
		for _, name := range []string{"", "a b", "a\nstatus", "a\r", "a\x00"} {
			if err := a.CreateFunction(ctx, name); !errors.Is(err, gearman.ErrAdminArgument) {
				t.Errorf("CreateFunction(%q) = %v, want ErrAdminArgument", name, err)
			}
		}
		if _, err := a.Version(ctx); err != nil {
			t.Fatalf("Version after refused arguments: %v", err)
		}
	})
	t.Run("UnknownCommand", func(t *testing.T) {
		_, err := a.List(ctx, "bogus")
		var ae *gearman.AdminError
		if !errors.Is(err, gearman.ErrUnknownCommand) || !errors.As(err, &ae) || ae.Line != "ERR UNKNOWN_COMMAND Unknown+server+commandbogus" {
			t.Fatalf("List(bogus) = %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					_, err = a.Status(ctx)
				} else {
					_, err = a.Version(ctx)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	})
	t.Run("Close", func(t *testing.T) {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := a.Version(ctx); !errors.Is(err, gearman.ErrClosed) {
			t.Fatalf("Version after Close = %v, want ErrClosed", err)
		}
	})
}

// adminFake serves each connection accepted on a loopback listener with
// serve, and waits for them when the test ends.
func adminFake(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// adminSilent reads and never answers.
func adminSilent(c net.Conn) {
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func TestAdminContextDeadline(t *testing.T) {
	a := adminDial(t, adminFake(t, adminSilent))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Status(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Status = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Status took %v", d)
	}
	if _, err := a.Version(context.Background()); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Version after a cut-off answer = %v, want ErrConnLost", err)
	}
}

func TestAdminContextCancel(t *testing.T) {
	a := adminDial(t, adminFake(t, adminSilent))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := a.Workers(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Workers = %v, want Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Workers took %v", d)
	}
	if _, err := a.Version(context.Background()); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Version after a cancelled call = %v, want ErrConnLost", err)
	}
	// A context cancelled before the call sends nothing and breaks nothing.
	b := adminDial(t, adminFake(t, adminSilent))
	if _, err := b.Version(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Version(cancelled ctx) = %v", err)
	}
}

func TestAdminContextWhileQueued(t *testing.T) {
	a := adminDial(t, adminFake(t, adminSilent))
	long, cancelLong := context.WithCancel(context.Background())
	defer cancelLong()
	var wg sync.WaitGroup
	wg.Go(func() { a.Status(long) })
	time.Sleep(50 * time.Millisecond) // let Status take the connection
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Version(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Version waiting behind Status = %v, want DeadlineExceeded", err)
	}
	cancelLong()
	wg.Wait()
}

func TestAdminCloseDuringCall(t *testing.T) {
	a := adminDial(t, adminFake(t, adminSilent))
	time.AfterFunc(50*time.Millisecond, func() { a.Close() })
	if _, err := a.Status(context.Background()); !errors.Is(err, gearman.ErrClosed) {
		t.Fatalf("Status during Close = %v, want ErrClosed", err)
	}
}

// adminScript answers each command line it reads with the next reply.
func adminScript(replies ...string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		for _, reply := range replies {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if reply == "<close>" {
				return
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
		adminSilent(c)
	}
}

func TestAdminServerClosesMidReply(t *testing.T) {
	a := adminDial(t, adminFake(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("fn\t1\t0\t0\nfn2\t1"))
	}))
	ctx := context.Background()
	if _, err := a.Status(ctx); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Status = %v, want ErrConnLost", err)
	}
	if _, err := a.Version(ctx); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Version after = %v, want ErrConnLost", err)
	}
}

func TestAdminReplies(t *testing.T) {
	a := adminDial(t, adminFake(t, adminScript(
		"fn\t1\t0\t0\ngarbage\nfn2\t2\t1\t1\n.\n", // status: a bad line, read to the end
		"OK 9.9\n", // version: still in step
		"ERR UNKNOWN_COMMAND Unknown+server+commandprioritystatus\r\n",
		"ERR INVALID_ARGUMENTS An+incomplete+set\r\n",
		"OK 12x\n", // getpid: not a number
		"OK\r\n",   // shutdown
		"<close>",  // shutdown graceful: the server goes away
	)))
	ctx := context.Background()
	if _, err := a.Status(ctx); !errors.Is(err, wire.ErrBadReply) {
		t.Fatalf("Status = %v, want ErrBadReply", err)
	}
	if v, err := a.Version(ctx); v != "9.9" || err != nil {
		t.Fatalf("Version = %q, %v", v, err)
	}
	_, err := a.PriorityStatus(ctx)
	if !errors.Is(err, gearman.ErrUnknownCommand) {
		t.Fatalf("PriorityStatus = %v, want ErrUnknownCommand", err)
	}
	err = a.MaxQueueAll(ctx, "f", 1)
	var ae *gearman.AdminError
	if !errors.As(err, &ae) || ae.Code != "INVALID_ARGUMENTS" || ae.Message != "An incomplete set" || ae.Command != "maxqueue" {
		t.Fatalf("MaxQueueAll = %#v", err)
	}
	if _, err := a.PID(ctx); !errors.Is(err, wire.ErrBadReply) {
		t.Fatalf("PID = %v, want ErrBadReply", err)
	}
	if err := a.Shutdown(ctx, false); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := a.Shutdown(ctx, true); err != nil {
		t.Fatalf("Shutdown(graceful) with the server gone = %v, want nil", err)
	}
	if _, err := a.Version(ctx); !errors.Is(err, gearman.ErrConnLost) {
		t.Fatalf("Version after shutdown = %v, want ErrConnLost", err)
	}
}

func TestAdminGroup(t *testing.T) {
	addr1 := peertest.Gearmand(t)
	addr2 := peertest.Gearmand(t)
	dead := adminDeadAddr(t)
	g := gearman.NewAdminGroup([]string{addr1, dead, addr2}, nil)
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, r := range g.CreateFunction(ctx, "grp") {
		if (r.Err != nil) != (r.Addr == dead) {
			t.Errorf("CreateFunction on %s: %v", r.Addr, r.Err)
		}
	}
	res := g.Status(ctx)
	if got := []string{res[0].Addr, res[1].Addr, res[2].Addr}; !slices.Equal(got, g.Addrs()) {
		t.Fatalf("answers from %v, want %v", got, g.Addrs())
	}
	for _, r := range res {
		if r.Addr == dead {
			if r.Err == nil {
				t.Errorf("Status from the dead server succeeded: %+v", r.Value)
			}
			continue
		}
		if r.Err != nil || adminFind(r.Value, "grp").Function != "grp" {
			t.Errorf("Status from %s = %+v, %v", r.Addr, r.Value, r.Err)
		}
	}
	pids := g.PID(ctx)
	if pids[0].Value == pids[2].Value || pids[0].Value <= 0 || pids[1].Err == nil {
		t.Errorf("PID = %+v", pids)
	}
	for _, r := range g.Shutdown(ctx, false) {
		if r.Addr != dead && !errors.Is(r.Err, gearman.ErrUnknownCommand) {
			t.Errorf("Shutdown on %s = %v", r.Addr, r.Err)
		}
	}
	g.Close()
	for _, r := range g.Version(ctx) {
		if !errors.Is(r.Err, gearman.ErrClosed) {
			t.Errorf("Version after Close on %s = %v, want ErrClosed", r.Addr, r.Err)
		}
	}
}

// adminDeadAddr returns a loopback address nothing listens on.
func adminDeadAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(peertest.FreePort(t)))
}
