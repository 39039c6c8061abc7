package pgtest

import (
	"errors"
	"net/url"
	"os"
	"syscall"
	"testing"
)

func TestStartWithoutMainStartsAServerPerTest(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("the server is $" + EnvURL)
	}
	var host, dir string
	var pid int
	mainUsed.Store(false)
	onOwn = func(s *Server) { pid, dir = s.Pid(), s.dir }
	t.Cleanup(func() { mainUsed.Store(true); onOwn = nil })
	t.Run("test", func(t *testing.T) {
		u, err := url.Parse(Start(t))
		if err != nil {
			t.Fatal(err)
		}
		host = u.Host
		if shared.srv != nil && host == shared.srv.Addr() {
			t.Errorf("Start without Main used the shared server %s", host)
		}
	})
	if pid == 0 {
		t.Fatal("no server of the test's own found")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres pid %d of an ended test: kill -0 gives %v; want ESRCH (stopped)", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ended test's server directory %s: %v; want it removed", dir, err)
	}
}
