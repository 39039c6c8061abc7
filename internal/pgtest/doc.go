// Package pgtest finds a PostgreSQL for a test: a fresh database on a server
// shared by the whole test binary, or a server of the test's own that it can
// stop, restart and crash, and a proxy that makes any of them unreachable.
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
//
//	func TestStore(t *testing.T) {
//		url := pgtest.Start(t) // postgres://...: a database of this test only
//		...
//	}
//
//	func TestRestart(t *testing.T) {
//		pg := pgtest.Own(t)       // a server of this test only
//		url := pg.URL()
//		...
//		if err := pg.Restart(ctx); err != nil { t.Fatal(err) }
//	}
//
// # Where the server comes from
//
// [Start] uses $GEARMAN_TEST_POSTGRES ([EnvURL]) when it is set: a
// postgres:// URL of a server on which that user may CREATE DATABASE. Else it
// starts a throwaway server from the PostgreSQL binaries installed on this
// machine (Debian's postgresql package: /usr/lib/postgresql/VERSION/bin, the
// newest version; else initdb and postgres on $PATH), once per test binary
// when TestMain wraps the tests with [Main], else once per test. [Own]
// always starts a server from the installed binaries, as only those can be
// stopped and started.
//
// A started server runs in a fresh directory under os.TempDir (not
// t.TempDir: as root the server runs as the postgres user, which cannot
// enter t.TempDir's directories), listens on a free port on 127.0.0.1 only,
// with no Unix socket, trusts every local connection as user postgres, and
// keeps PostgreSQL's defaults otherwise (fsync on, synchronous_commit on;
// max_connections is 200). initdb runs with --no-sync: the throwaway data
// directory needs no sync at creation, and the server syncs as configured.
// Stopping it is a fast shutdown (SIGINT to the postmaster, by pid, as
// pg_ctl stop -m fast does), and then its directory is removed. Should the
// test binary die without its cleanups (a -timeout panic), the kernel sends
// the postmaster SIGINT too (Linux's parent-death signal).
//
// When no PostgreSQL is installed (or, as root, there is no postgres user),
// the test is skipped with a message that says so, except under CI=true,
// where it fails: CI installs PostgreSQL, so its absence is a defect.
//
// # Isolation
//
// Every [Start] and [Server.Database] is a database of its own, named after
// the test, dropped (WITH (FORCE)) when the test ends, so tests may run in
// parallel on one server. Tests that stop, restart or cut off PostgreSQL
// use [Own] or a [Proxy]: the shared server stays up for everyone.
package pgtest
