package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// httpLine matches the http attribute of the line logged at start.
var httpLine = regexp.MustCompile(`msg=serving .* http=(\S+)`)

// TestHTTPFlag: --http serves the metrics, health and page on its own
// address, given in the start line as bound.
func TestHTTPFlag(t *testing.T) {
	c := start(t, "--http", "127.0.0.1:0", "--store", "file:"+t.TempDir())
	m := httpLine.FindStringSubmatch(c.stderr.String())
	if m == nil {
		t.Fatalf("no http= in the start line: %s", c.stderr)
	}
	base := "http://" + m[1]
	client := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]string{
		"/healthz":    "ok\n",
		"/readyz":     "ok\n",
		"/metrics":    `gearman_build_info{`,
		"/api/status": `"functions": []`,
		"/":           `<table id="functions">`,
	} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s %.300q; want 200 with %q", path, resp.Status, b, want)
		}
	}
}

// TestHTTPFlagBadAddress: an address that cannot be bound stops the start.
func TestHTTPFlagBadAddress(t *testing.T) {
	c := startArgs(t, build(t), "-L", "127.0.0.1", "-p", "0", "--http", "127.0.0.1:notaport")
	if code := c.wait(t); code == 0 || !strings.Contains(c.stderr.String(), "--http 127.0.0.1:notaport") {
		t.Errorf("exit %d, stderr %q; want a failure naming --http", code, c.stderr)
	}
}
