package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBacklog: -b sets the listen backlog, which ss shows as the listening
// socket's Send-Q; without it the backlog is the system's largest.
func TestBacklog(t *testing.T) {
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("no ss to read the backlog with")
	}
	somaxconn, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Skip(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-b", "7"}, "7"},
		{[]string{"--backlog=9"}, "9"},
		{nil, strings.TrimSpace(string(somaxconn))},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := start(t, tt.args...)
			_, port, _ := net.SplitHostPort(c.addr)
			out, err := exec.Command(ss, "-Hltn", "sport = :"+port).Output()
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(out))
			if len(f) < 4 || f[0] != "LISTEN" {
				t.Fatalf("ss: %q", out)
			}
			if f[2] != tt.want {
				t.Errorf("backlog %s, want %s (ss: %q)", f[2], tt.want, out)
			}
		})
	}
}

// TestKeepalive: --keepalive-idle sets the idle time before the first
// probe of accepted connections, which /proc/net/tcp shows as the pending
// keep-alive timer of the server's side of a connection.
func TestKeepalive(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip(err)
	}
	for _, tt := range []struct {
		args     []string
		min, max int // the timer's bounds, in clock ticks (1/100 s)
	}{
		{[]string{"--keepalive", "--keepalive-idle", "4", "--keepalive-interval", "2", "--keepalive-count", "3"}, 1, 400},
		{[]string{"--keepalive", "--keepalive-idle=0"}, 1, 1500}, // Go's 15 s
		{nil, 1, 1500}, // Go's default: 15 s
		{[]string{"--keepalive"}, systemKeepalive(t)*100 - 60*100, 1 << 40}, // the system's
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := start(t, tt.args...)
			nc, err := net.Dial("tcp", c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			nc.Write([]byte("version\r\n"))
			if _, err := bufio.NewReader(nc).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			ticks := keepaliveTimer(t, c.addr, nc.LocalAddr().String())
			if ticks < tt.min || ticks > tt.max {
				t.Errorf("keep-alive timer in %d ticks, want %d to %d", ticks, tt.min, tt.max)
			}
		})
	}
}

// systemKeepalive is the system's keep-alive idle time, in seconds.
func systemKeepalive(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_time")
	if err != nil {
		t.Skip(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 60 {
		t.Skipf("tcp_keepalive_time %q", b)
	}
	return n
}

// keepaliveTimer waits until the connection from client to server, on the
// server's side, has its keep-alive timer pending (other timers, such as
// the one for the reply's ACK, come first) and returns the ticks it has to
// go.
func keepaliveTimer(t *testing.T, server, client string) int {
	t.Helper()
	hexAddr := func(addr string) string {
		ap, err := net.ResolveTCPAddr("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		ip := ap.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port)
	}
	local, remote := hexAddr(server), hexAddr(client)
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[1] != local || f[2] != remote {
				continue
			}
			last = line
			tr, when, _ := strings.Cut(f[5], ":")
			if tr != "02" {
				continue
			}
			n, err := strconv.ParseInt(when, 16, 64)
			if err != nil {
				t.Fatalf("/proc/net/tcp: %q", line)
			}
			return int(n)
		}
	}
	t.Fatalf("no keep-alive timer on the server's side of %s; last line: %q", client, last)
	return 0
}
