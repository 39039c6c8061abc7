package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

var builds struct {
	once sync.Once
	dir  string
	err  error
	mu   sync.Mutex
	bins map[string]error
}

// Command builds the command whose package is the test's working directory
// (the command under test) once per test process, as name, and returns the
// binary's path. RunMain removes it when the tests end.
func Command(t testing.TB, name string) string {
	t.Helper()
	builds.once.Do(func() { builds.dir, builds.err = os.MkdirTemp("", "gearman-cmd-test") })
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	bin := filepath.Join(builds.dir, name)
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.bins == nil {
		builds.bins = map[string]error{}
	}
	err, done := builds.bins[name]
	if !done {
		if out, e := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); e != nil {
			err = fmt.Errorf("go build: %v\n%s", e, out)
		}
		builds.bins[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// RunMain is the TestMain of a command's tests: it runs them with goleak's
// check and removes what Command built.
func RunMain(m goleak.TestingM) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if builds.dir != "" {
			os.RemoveAll(builds.dir)
		}
		os.Exit(code)
	}))
}
