package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// newDatabase creates a fresh database on the server of adminURL (a URL of
// a database that exists, such as "postgres"), named after t, and returns
// its URL; it is dropped when t ends, when up reports the server up then
// (nil: always).
func newDatabase(t testing.TB, adminURL string, up func() bool) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := createDatabase(ctx, adminURL, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if up != nil && !up() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := execSQL(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop the test's database %s: %v", name, err)
		}
	})
	u, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// createDatabase creates database name on the server of adminURL.
func createDatabase(ctx context.Context, adminURL, name string) error {
	if err := execSQL(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return nil
}

// execSQL runs sql on one connection to connURL.
func execSQL(ctx context.Context, connURL, sql string) error {
	c, err := pgconn.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql).ReadAll()
	return err
}

// databaseName is a fresh database name for test: "t_", the test's name
// in lower-case letters, digits and underscores, cut so that the whole
// fits PostgreSQL's 63 bytes, and 8 random hex digits, unique across test
// binaries that share a server.
func databaseName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := b.String()
	if len(base) > 50 {
		base = base[:50]
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return "t_" + base + "_" + hex.EncodeToString(rnd[:])
}

// withDatabase is connURL with its database replaced by name.
func withDatabase(connURL, name string) (string, error) {
	u, err := url.Parse(connURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("pgtest: want a postgres:// URL (as in $%s); got %s", EnvURL, redact(connURL))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact is connURL without its password, for messages; it says only
// that it is not one when it is no postgres:// URL (a key=value conninfo
// may hold a password anywhere).
func redact(connURL string) string {
	u, err := url.Parse(connURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "something that is not a postgres:// URL"
	}
	return fmt.Sprintf("%q", u.Redacted())
}
