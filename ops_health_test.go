package gearman_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// get returns the status code and body of a GET of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestReadyzListening: not ready before Serve and after Shutdown; healthz
// answers throughout.
func TestReadyzListening(t *testing.T) {
	s := &gearman.Server{HandlePrefix: "H:test"}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	if code, body := get(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not listening") {
		t.Errorf("readyz before Serve: %d %q; want 503, not listening", code, body)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	// Serve registers its listener before it accepts: a connection that
	// gets an answer proves it is registered.
	p := wiretest.Dial(t, l.Addr().String())
	p.Sync()
	if code, body := get(t, hs.URL+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("readyz while serving: %d %q; want 200 ok", code, body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, gearman.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if code, body := get(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
		t.Errorf("readyz after Shutdown: %d %q; want 503, closed", code, body)
	}
	if code, body := get(t, hs.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q; want 200 ok", code, body)
	}
}

// TestReadyzStore: not ready while the store cannot write, and once it is
// closed; a background submit is refused meanwhile and counted.
func TestReadyzStore(t *testing.T) {
	st, err := gearman.OpenStore(t.Context(), "file:"+t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	setHealth := gearman.StoreHealth(st)
	s := &gearman.Server{Store: st}
	addr, url := opsServer(t, s)
	if code, body := get(t, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with a healthy store: %d %q", code, body)
	}
	setHealth(errors.New("connection refused"))
	code, body := get(t, url+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") || !strings.Contains(body, "file:") {
		t.Errorf("readyz with an unreachable store: %d %q; want 503 naming the store and why", code, body)
	}
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "x")
	c.ExpectType(wire.Error)
	checkSamples(t, scrape(t, url+"/metrics"), map[string]float64{
		`gearman_submits_rejected_total{reason="store_error"}`: 1,
	})
	setHealth(nil)
	if code, body := get(t, url+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz with the store back: %d %q", code, body)
	}
	// The store closed under the server (the Server closes it again at
	// the end, which does nothing).
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "store: closed") {
		t.Errorf("readyz with the store closed: %d %q; want 503, store: closed", code, body)
	}
}

// TestReadyzDatabaseUnreachable: with the PostgreSQL store, /readyz fails
// while the database cannot be reached (once a write has found it so), and
// recovers when it is back.
func TestReadyzDatabaseUnreachable(t *testing.T) {
	px := pgtest.NewProxy(t, pgtest.Start(t))
	st, err := gearman.OpenStore(t.Context(), px.URL(), &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	addr, url := opsServer(t, &gearman.Server{Store: st})
	if code, body := get(t, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with the database up: %d %q", code, body)
	}
	px.Cut()
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "refused")
	if p := c.Next(); p.Type != wire.Error {
		t.Fatalf("submit during the outage: %v %q; want ERROR", p.Type, p.Args)
	}
	if code, body := get(t, url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "store") {
		t.Errorf("readyz with the database cut off: %d %q; want 503 naming the store", code, body)
	}
	px.Restore()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body := get(t, url+"/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz 20 s after the database came back: %d %q", code, body)
		}
	}
}

// TestReadyzPingsTheDatabase: with the PostgreSQL store and no job
// traffic at all, /readyz notices the database cut off (the probe pings
// it; nothing is written) and notices it back.
func TestReadyzPingsTheDatabase(t *testing.T) {
	px := pgtest.NewProxy(t, pgtest.Start(t))
	st, err := gearman.OpenStore(t.Context(), px.URL(), &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	_, url := opsServer(t, &gearman.Server{Store: st})
	waitReady := func(want int, what string) string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			code, body := get(t, url+"/readyz")
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz %s: still %d %q after 20 s; want %d", what, code, body, want)
			}
		}
	}
	waitReady(http.StatusOK, "with the database up")
	px.Cut()
	if body := waitReady(http.StatusServiceUnavailable, "with the database cut off"); !strings.Contains(body, "ping") {
		t.Errorf("readyz with the database cut off: %q; want the ping's error", body)
	}
	px.Restore()
	waitReady(http.StatusOK, "with the database back")
}

// TestDeadLettersGaugeAbsentWhileTheDatabaseIsCutOff: with PostgreSQL,
// the cluster's dead-letter count is absent from /metrics (which still
// answers) and null in /api/status while the database cannot be asked,
// rather than a false 0; it comes back with the database.
func TestDeadLettersGaugeAbsentWhileTheDatabaseIsCutOff(t *testing.T) {
	px := pgtest.NewProxy(t, pgtest.Start(t))
	st, err := gearman.OpenStore(t.Context(), px.URL(), &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	addr, url := opsServer(t, &gearman.Server{Store: st})
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "f") // f is known, so its gauges are there
	w.Sync()
	const sample = `gearman_dead_letters{function="f"}`
	var status struct {
		Dead *int `json:"dead_letters"`
	}
	px.Cut() // before any count: nothing is cached
	samples := scrape(t, url+"/metrics")
	if _, ok := samples[sample]; ok {
		t.Errorf("%s = %v with the database cut off; want it absent", sample, samples[sample])
	}
	if _, ok := samples[`gearman_workers{function="f"}`]; !ok {
		t.Errorf("gearman_workers{function=\"f\"} absent with the database cut off; want this server's figures")
	}
	getJSON(t, url+"/api/status", &status)
	if status.Dead != nil {
		t.Errorf("/api/status dead_letters = %d with the database cut off; want null", *status.Dead)
	}
	px.Restore()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if v, ok := scrape(t, url+"/metrics")[sample]; ok {
			if v != 0 {
				t.Errorf("%s = %v; want 0", sample, v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still absent 20 s after the database came back", sample)
		}
	}
	getJSON(t, url+"/api/status", &status)
	if status.Dead == nil || *status.Dead != 0 {
		t.Errorf("/api/status dead_letters = %v with the database back; want 0", status.Dead)
	}
}
