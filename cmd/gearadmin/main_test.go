package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// TestMain runs the tests under goleak.VerifyTestMain (peertest.RunMain),
// then removes the binary that build made.
func TestMain(m *testing.M) { peertest.RunMain(m) }

// result is what one run of a gearadmin printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// gearadminRun runs the program at path with args and returns its output,
// with its own path in the output replaced by "gearadmin".
func gearadminRun(t *testing.T, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %q: %v", path, args, err)
	}
	r.stdout = strings.ReplaceAll(r.stdout, path+" : ", "gearadmin : ")
	return r
}

// withoutShutdown removes what only our gearadmin has: the --shutdown option
// from the help and from the list of an ambiguous abbreviation.
func withoutShutdown(r result) result {
	r.stdout = strings.Replace(r.stdout, "  --shutdown                     Shutdown server.\n", "", 1)
	r.stdout = strings.Replace(r.stdout, "'--shutdown', ", "", 1)
	return r
}

// build builds the command once and returns its path.
func build(t *testing.T) string { return peertest.Command(t, "gearadmin") }

func TestSameAsGearadmin(t *testing.T) {
	cTool := peertest.Require(t, "gearadmin")
	gearmanTool := peertest.Require(t, "gearman")
	ours := build(t)
	// One I/O thread: gearmand lists "workers" by thread, and gives each new
	// connection the next thread in turn.
	addr := peertest.Gearmand(t, "-t", "1")
	host, port := peertest.HostPort(t, addr)
	hp := []string{"-h", host, "-p", port}
	peertest.Start(t, gearmanTool, append(hp, "-w", "-f", "cmp_work", "--", "cat")...)
	submit := func(args ...string) {
		peertest.Run(t, nil, 10*time.Second, gearmanTool, append(append(hp, "-b", "-s"), args...)...)
	}
	submit("-I", "-u", "u1", "-f", "cmp_queue")
	submit("-u", "u2", "-f", "cmp_queue")
	submit("-L", "-f", "cmp_queue") // no unique id: gearman makes one up
	submit("-u", "u4", "-f", "cmp_other")
	submit("-u", "u5", "-f", "cmp_other")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := gearadminRun(t, cTool, append(hp, "--workers")...); strings.Contains(r.stdout, "cmp_work") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not register")
		}
	}
	handles := strings.Fields(gearadminRun(t, cTool, append(hp, "--show-jobs")...).stdout)

	cases := []struct {
		name       string
		cArgs      []string // the C gearadmin's arguments
		ourArgs    []string // ours, when they differ (a second job to cancel)
		noServer   bool     // run without -h/-p
		wantStdout string   // a fragment the output must hold, so that the case tests something
	}{
		{name: "status", cArgs: []string{"--status"}, wantStdout: "cmp_queue\t3\t0\t0\n"},
		{name: "workers", cArgs: []string{"--workers"}, wantStdout: " : cmp_work\n"},
		{name: "priority-status", cArgs: []string{"--priority-status"}, wantStdout: "cmp_queue\t1\t1\t1\t0\n"},
		{name: "server-version", cArgs: []string{"--server-version"}, wantStdout: "1.1."},
		{name: "server-verbose", cArgs: []string{"--server-verbose"}, wantStdout: "WARNING\n"},
		{name: "getpid", cArgs: []string{"--getpid"}},
		{name: "show-jobs", cArgs: []string{"--show-jobs"}, wantStdout: "\t0\t0\t1\n"},
		{name: "show-unique-jobs", cArgs: []string{"--show-unique-jobs"}, wantStdout: "u1\n"},
		{name: "all at once", cArgs: []string{"--status", "--workers", "--priority-status", "--server-version",
			"--server-verbose", "--getpid", "--show-jobs", "--show-unique-jobs", "--cancel-job", "H:none:1"}, wantStdout: ".\n"},
		{name: "create and drop", cArgs: []string{"--drop-function", "cmp_new", "--create-function", "cmp_new", "--status"}, wantStdout: "OK\nOK\n"},
		{name: "drop unknown", cArgs: []string{"--drop-function", "cmp_none"}},
		{name: "drop in use", cArgs: []string{"--drop-function", "cmp_work"}},
		{name: "cancel unknown", cArgs: []string{"--cancel-job=H:none:1"}},
		{name: "cancel", cArgs: []string{"--cancel-job", handles[0]}, ourArgs: []string{"--cancel-job", handles[4]}, wantStdout: "OK\n"},
		{name: "abbreviated", cArgs: []string{"--stat", "--work"}, wantStdout: "cmp_work"},
		{name: "attached values", cArgs: []string{"-h" + host, "-p" + port, "--server-verbose"}, noServer: true, wantStdout: "WARNING\n"},
		{name: "long values", cArgs: []string{"--host=" + host, "--port", port, "--server-verbose"}, noServer: true, wantStdout: "WARNING\n"},
		{name: "ignored words", cArgs: []string{"extra", "--server-verbose", "-", "--", "--status"}, wantStdout: "WARNING\n"},
		{name: "help", cArgs: []string{"--help"}, wantStdout: "Options:\n"},
		{name: "help with more", cArgs: []string{"--status", "--help"}, wantStdout: "Options:\n"},
		{name: "no operation", cArgs: nil, wantStdout: "No option execution operation given.\n"},
		{name: "only --", cArgs: []string{"--", "--status"}},
		{name: "unknown option", cArgs: []string{"--bogus=1"}},
		{name: "unknown short", cArgs: []string{"-Sx"}},
		{name: "ambiguous", cArgs: []string{"--s"}},
		{name: "ambiguous of two", cArgs: []string{"--show"}},
		{name: "no value", cArgs: []string{"--cancel-job"}},
		{name: "empty value", cArgs: []string{"--cancel-job="}},
		{name: "short without value", cArgs: []string{"-h", "-p", port}, noServer: true},
		{name: "value for a flag", cArgs: []string{"--status=1"}},
		{name: "twice", cArgs: []string{"--status", "--status"}},
		{name: "refused", cArgs: []string{"-h", host, "-p", strconv.Itoa(peertest.FreePort(t)), "--status"}, noServer: true},
		{name: "unknown host", cArgs: []string{"-h", "nosuchhost.invalid", "--status"}, noServer: true},
		{name: "unknown service", cArgs: []string{"-h", host, "-p", "nosuchservice", "--status"}, noServer: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := func(a []string) []string {
				if tc.noServer {
					return a
				}
				return append(append([]string{}, hp...), a...)
			}
			ourArgs := tc.ourArgs
			if ourArgs == nil {
				ourArgs = tc.cArgs
			}
			// The "workers" answer names the admin connection by its file
			// descriptor, which gearmand may not have freed yet between two
			// runs: try a few times.
			var want, got result
			for range 5 {
				want = gearadminRun(t, cTool, args(tc.cArgs)...)
				got = withoutShutdown(gearadminRun(t, ours, args(ourArgs)...))
				if got == want {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got != want {
				t.Fatalf("gearadmin %q:\n got stdout %q\n     stderr %q\n     exit %d\nwant stdout %q\n     stderr %q\n     exit %d",
					tc.cArgs, got.stdout, got.stderr, got.code, want.stdout, want.stderr, want.code)
			}
			if !strings.Contains(want.stdout, tc.wantStdout) {
				t.Fatalf("gearadmin %q printed %q, want it to hold %q: the case tests nothing", tc.cArgs, want.stdout, tc.wantStdout)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	got := gearadminRun(t, ours, "-h", host, "-p", port, "--shutdown", "--getpid")
	if got.stderr != "Error: UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n" || got.code != 0 || got.stdout == "" {
		t.Fatalf("--shutdown against gearmand 1.1.20: %+v", got)
	}
}

func TestRefusedArgument(t *testing.T) {
	ours := build(t)
	addr := peertest.Gearmand(t)
	host, port := peertest.HostPort(t, addr)
	got := gearadminRun(t, ours, "-h", host, "-p", port, "--create-function", "a b", "--status")
	if !strings.Contains(got.stderr, "cannot be sent") || got.code != 1 || got.stdout != ".\n" {
		t.Fatalf("--create-function 'a b': %+v", got)
	}
}
