package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/seed749d6d6d/gearman/internal/pgtest"
)

// connect opens a connection to connURL, closed when t ends.
func connect(t *testing.T, connURL string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), connURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", connURL, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// query is the one text value that sql returns.
func query(t *testing.T, c *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := c.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func exec(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withDB is connURL with database db.
func withDB(t *testing.T, connURL, db string) string {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

func TestStartDatabasesAreFreshAndDropped(t *testing.T) {
	var urls [2]string
	var admin string
	t.Run("inner", func(t *testing.T) {
		urls[0], urls[1] = pgtest.Start(t), pgtest.Start(t)
		if urls[0] == urls[1] {
			t.Fatalf("two Starts gave one database: %s", urls[0])
		}
		a, b := connect(t, urls[0]), connect(t, urls[1])
		exec(t, a, "CREATE TABLE jobs (id int)")
		if got := query(t, b, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'jobs'"); got != "0" {
			t.Errorf("a table created in one database is in the other too (%s tables)", got)
		}
		if got := query(t, a, "SELECT current_database()"); !strings.HasPrefix(got, "t_teststartdatabasesarefreshanddropped_inner_") {
			t.Errorf("database name %q; want it after the test", got)
		}
		admin = withDB(t, urls[0], "postgres")
	})
	if t.Failed() {
		return
	}
	c := connect(t, admin)
	for _, u := range urls {
		name := strings.TrimPrefix(must(url.Parse(u)).Path, "/")
		if got := query(t, c, "SELECT count(*)::text FROM pg_database WHERE datname = '"+name+"'"); got != "0" {
			t.Errorf("database %s still there after its test", name)
		}
	}
}

func TestStartSharesOneServer(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skip("the server is $" + pgtest.EnvURL)
	}
	var hosts []string
	for range 2 {
		t.Run("db", func(t *testing.T) {
			hosts = append(hosts, must(url.Parse(pgtest.Start(t))).Host)
		})
	}
	if len(hosts) == 2 && hosts[0] != hosts[1] {
		t.Errorf("Start under Main used two servers, %s and %s", hosts[0], hosts[1])
	}
}

func TestStartDefaultsAreDurable(t *testing.T) {
	c := connect(t, pgtest.Start(t))
	for _, s := range []string{"fsync", "synchronous_commit"} {
		if got := query(t, c, "SHOW "+s); got != "on" {
			t.Errorf("%s = %s; want on", s, got)
		}
	}
}

func TestStartUsesEnvURL(t *testing.T) {
	pg := pgtest.Own(t)
	t.Setenv(pgtest.EnvURL, pg.URL())
	u := pgtest.Start(t)
	if got := must(url.Parse(u)).Host; got != pg.Addr() {
		t.Errorf("Start with $%s=%s gave a database on %s", pgtest.EnvURL, pg.URL(), got)
	}
	connect(t, u)
}

func TestOwnSettings(t *testing.T) {
	pg := pgtest.Own(t, "fsync=off", "max_connections=42")
	c := connect(t, pg.URL())
	if got := query(t, c, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %s; want off", got)
	}
	if got := query(t, c, "SHOW max_connections"); got != "42" {
		t.Errorf("max_connections = %s; want 42 (the setting given)", got)
	}
}

func TestOwnRestartKeepsData(t *testing.T) {
	pg := pgtest.Own(t)
	c := connect(t, pg.URL())
	exec(t, c, "CREATE TABLE jobs (id int); INSERT INTO jobs VALUES (1), (2)")
	pid := pg.Pid()
	if err := pg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if pg.Pid() != 0 {
		t.Errorf("Pid = %d after Stop; want 0", pg.Pid())
	}
	if err := c.Ping(t.Context()); err == nil {
		t.Error("a connection from before Stop still works")
	}
	if _, err := pgx.Connect(t.Context(), pg.URL()); err == nil {
		t.Error("connected to a stopped server")
	}
	if err := pg.Stop(t.Context()); err != nil {
		t.Errorf("Stop of a stopped server: %v", err)
	}
	if err := pg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if pg.Pid() == 0 || pg.Pid() == pid {
		t.Errorf("Pid = %d after Start; want a new postmaster (was %d)", pg.Pid(), pid)
	}
	if err := pg.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := query(t, connect(t, pg.URL()), "SELECT sum(id)::text FROM jobs"); got != "3" {
		t.Errorf("after a restart sum(id) = %s; want 3", got)
	}
}

func TestOwnCrashRecovers(t *testing.T) {
	pg := pgtest.Own(t)
	c := connect(t, pg.URL())
	exec(t, c, "CREATE TABLE jobs (id int); INSERT INTO jobs VALUES (7)")
	if err := pg.Crash(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := query(t, connect(t, pg.URL()), "SELECT sum(id)::text FROM jobs"); got != "7" {
		t.Errorf("after a crash sum(id) = %s; want 7 (committed)", got)
	}
	log, err := os.ReadFile(pg.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "automatic recovery in progress") {
		t.Errorf("no crash recovery in the log after Crash; log:\n%s", log)
	}
}

func TestOwnDatabase(t *testing.T) {
	pg := pgtest.Own(t)
	u := pg.Database(t)
	if u == pg.URL() {
		t.Fatalf("Database gave the server's own database %s", u)
	}
	exec(t, connect(t, u), "CREATE TABLE x (id int)")
	// Left stopped: the database's cleanup must not fail on it.
	if err := pg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var _ = errors.Is
