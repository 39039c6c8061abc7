package pgtest

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB // nil: only the methods below are called
	ended      string // "skip: ..." or "fatal: ..."
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.ended = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.ended = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.ended = "fatal: " + fmt.Sprint(args...)
	runtime.Goexit()
}

// ending is how fail(err) ends a test.
func ending(err error) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fail(r, err)
	}()
	<-done
	return r.ended
}

func TestFailSkipsOrFailsWhenNotInstalled(t *testing.T) {
	missing := fmt.Errorf("%w: no initdb", ErrNotInstalled)
	other := errors.New("pgtest: initdb failed")
	for _, tc := range []struct {
		ci   string
		err  error
		want string
	}{
		{"", missing, "skip: skipped: pgtest: no PostgreSQL server installed: no initdb"},
		{"false", missing, "skip: "},
		{"true", missing, "fatal: pgtest: no PostgreSQL server installed: no initdb (CI=true"},
		{"", other, "fatal: pgtest: initdb failed"},
		{"true", other, "fatal: pgtest: initdb failed"},
	} {
		t.Setenv("CI", tc.ci)
		if got := ending(tc.err); !strings.HasPrefix(got, tc.want) {
			t.Errorf("CI=%q, %v: got %q; want it to start %q", tc.ci, tc.err, got, tc.want)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("TestX/sub-Case ", 20)
	seen := map[string]bool{}
	for _, test := range []string{"TestA", "TestA", "TestB/sub case#01", long} {
		name := databaseName(test)
		if len(name) > 63 {
			t.Errorf("databaseName(%q) = %q: %d bytes, more than PostgreSQL's 63", test, name, len(name))
		}
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("databaseName(%q) = %q: not only a-z, 0-9 and _", test, name)
		}
		if seen[name] {
			t.Errorf("databaseName(%q) = %q twice", test, name)
		}
		seen[name] = true
	}
	if got := databaseName("TestB/sub case#01"); !strings.HasPrefix(got, "t_testb_sub_case_01_") {
		t.Errorf("databaseName = %q; want it to start t_testb_sub_case_01_", got)
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:secret@db.example:6432/app?sslmode=require&x=1", "t_a")
	if want := "postgres://u:secret@db.example:6432/t_a?sslmode=require&x=1"; err != nil || got != want {
		t.Errorf("withDatabase = %q, %v; want %q", got, err, want)
	}
	_, err = withDatabase("host=db user=u password=secret", "t_a")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("withDatabase of a key=value conninfo: %v; want an error without the password", err)
	}
}
