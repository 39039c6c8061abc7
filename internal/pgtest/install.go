package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// EnvURL names the environment variable with the URL of an existing
// PostgreSQL server for [Start] (postgres://user:password@host:port/db?...);
// its database part is replaced by a fresh database per call.
const EnvURL = "GEARMAN_TEST_POSTGRES"

// ErrNotInstalled is returned (and reported by [Start] and [Own] as a skip,
// or a failure under CI=true) when this machine has no PostgreSQL server
// binaries, or, as root, no postgres user to run them as.
var ErrNotInstalled = errors.New("pgtest: no PostgreSQL server installed")

// install is where the server binaries are and whom they run as.
type install struct {
	bin  string               // directory of initdb and postgres
	cred *syscall.Credential // nil: as this process's user
}

// findInstall finds the newest /usr/lib/postgresql/*/bin with an initdb,
// else initdb on $PATH, and the postgres user when running as root.
func findInstall() (install, error) {
	var in install
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			in.bin = d
			break
		}
	}
	if in.bin == "" {
		p, err := exec.LookPath("initdb")
		if err != nil || !isExec(filepath.Join(filepath.Dir(p), "postgres")) {
			return in, fmt.Errorf("%w: no initdb in /usr/lib/postgresql/*/bin or on $PATH (apt-get install postgresql, or set %s to a server's URL)", ErrNotInstalled, EnvURL)
		}
		in.bin = filepath.Dir(p)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return in, fmt.Errorf("%w: running as root, and PostgreSQL refuses root, but there is no postgres user to run it as: %v", ErrNotInstalled, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return in, fmt.Errorf("pgtest: user postgres: %w", err)
		}
		in.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return in, nil
}

// versionOf is the major version in a /usr/lib/postgresql/VERSION/bin path.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(dir)), ".", 2)[0])
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// mkdir makes a fresh directory under os.TempDir that the server's user
// owns.
func (in install) mkdir() (string, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: directory for a server: %w", err)
	}
	if in.cred != nil {
		if err := os.Chown(dir, int(in.cred.Uid), int(in.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: directory for a server: %w", err)
		}
	}
	return dir, nil
}

// unavailable skips t because of err, or fails it under CI=true, where
// PostgreSQL is installed.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: CI installs PostgreSQL, so this is a failure)", err)
	}
	t.Skipf("skipped: %v", err)
}

// fail reports err on t: a skip when PostgreSQL is not installed, else a
// failure.
func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		unavailable(t, err)
	}
	t.Fatal(err)
}
