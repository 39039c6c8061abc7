package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// template is a data directory fresh from initdb that the servers of a
// test binary under [Main] copy instead of running initdb each (a copy of
// its 40 MB takes a fraction of initdb's 1-2 s); Main's Run removes it.
var template struct {
	mu  sync.Mutex
	dir string // holds data/; "" until made
	err error
}

// initData makes s's data directory: a copy of the template under Main,
// else initdb's.
func (s *Server) initData() error {
	if !mainUsed.Load() {
		return initdb(s.in, s.dir, s.dataDir())
	}
	template.mu.Lock()
	if template.dir == "" && template.err == nil {
		template.err = func() error {
			dir, err := s.in.mkdir()
			if err != nil {
				return err
			}
			if err := initdb(s.in, dir, filepath.Join(dir, "data")); err != nil {
				os.RemoveAll(dir)
				return err
			}
			template.dir = dir
			return nil
		}()
	}
	dir, err := template.dir, template.err
	template.mu.Unlock()
	if err != nil {
		return err
	}
	// cp -a keeps the owner (the postgres user, as root) and the modes
	// PostgreSQL checks (0700 on the data directory).
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "data"), s.dataDir()).CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: copy the initdb template to %s: %w\n%s", s.dataDir(), err, out)
	}
	return nil
}

// initdb makes data, in dir, as the server's user: trust for every local
// connection, superuser postgres, no sync (a throwaway directory).
func initdb(in install, dir, data string) error {
	cmd := in.command(dir, filepath.Join(in.bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
		"--no-sync", "--locale=C", "--encoding=UTF8")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb in %s: %w\n%s", dir, err, out)
	}
	return nil
}

// removeTemplate removes the template, for Main's Run.
func removeTemplate() error {
	template.mu.Lock()
	defer template.mu.Unlock()
	if template.dir == "" {
		return nil
	}
	err := os.RemoveAll(template.dir)
	template.dir = ""
	if err != nil {
		return fmt.Errorf("pgtest: remove the initdb template: %w", err)
	}
	return nil
}
