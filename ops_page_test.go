//go:build unix

package gearman_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// The status page in a real browser: Debian's chromium, headless. It
// skips when chromium is not installed (fails under CI=true, which
// installs it). On failure a phone-sized screenshot of each page is kept
// in the test's artifact directory (go test -artifacts keeps it; the path
// is logged).

// chromium runs headless chromium on url with extra flags and returns
// its standard output; the process group is killed if it outlives the
// time limit.
func chromium(t *testing.T, path, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=390,844"}, flags...)
	cmd := exec.CommandContext(ctx, path, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// pageServer is a server with jobs and workers, and its handler on a test
// HTTP server whose first /api/status request first submits a job of
// function "late": only a page that updates itself can show it.
func pageServer(t *testing.T) (url string) {
	t.Helper()
	s := &gearman.Server{HandlePrefix: "H:test"}
	h := s.Handler()
	addr := srvStart(t, s)

	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "resize", "img-1", "a")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobBg, "resize", "img-2", "b")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJobHighBg, "resize", "img-3", "c")
	c.Expect(wire.JobCreated, "H:test:3")
	c.Send(wire.SubmitJobLowBg, "email", "", "d")
	c.Expect(wire.JobCreated, "H:test:4")
	w := wiretest.Dial(t, addr)
	w.Send(wire.SetClientID, "thumbnailer-7")
	w.Send(wire.CanDo, "resize")
	w.Send(wire.GrabJobUniq)
	w.Expect(wire.JobAssignUniq, "H:test:3", "resize", "img-3", "c")

	// A dead letter: flaky's jobs are kept on their first failure.
	s.SetRetryPolicy("flaky", &gearman.RetryPolicy{Keep: true})
	c.Send(wire.SubmitJobBg, "flaky", "order-9", "e")
	c.Expect(wire.JobCreated, "H:test:5")
	fw := wiretest.Dial(t, addr)
	fw.Send(wire.CanDo, "flaky")
	fw.Send(wire.GrabJobUniq)
	fw.Expect(wire.JobAssignUniq, "H:test:5", "flaky", "order-9", "e")
	fw.Send(wire.WorkException, "H:test:5", "card <declined>")
	fw.Send(wire.CantDo, "flaky")
	fw.Sync()

	late, err := gearman.Dial(t.Context(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { late.Close() })
	var once sync.Once
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" {
			once.Do(func() {
				if _, err := late.Submit(r.Context(), gearman.Job{Func: "late", Background: true}); err != nil {
					t.Errorf("submitting the late job: %v", err)
				}
			})
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	rowRE   = regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`)
	tableRE = regexp.MustCompile(`(?s)<table id="([a-z]+)">(.*?)</table>`)
)

// tables returns the body rows of every table of a page's DOM, by table
// id, each row as its cells' text.
func tables(dom string) map[string][][]string {
	out := map[string][][]string{}
	for _, m := range tableRE.FindAllStringSubmatch(dom, -1) {
		body := m[2]
		if i := strings.Index(body, "<tbody>"); i >= 0 {
			body = body[i:]
		}
		var rows [][]string
		for _, r := range rowRE.FindAllStringSubmatch(body, -1) {
			var cells []string
			for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
				cells = append(cells, strings.TrimSpace(tagRE.ReplaceAllString(c[1], "")))
			}
			rows = append(rows, cells)
		}
		out[m[1]] = rows
	}
	return out
}

// row returns the row of rows whose first cell is first, or nil.
func row(rows [][]string, first string) []string {
	for _, r := range rows {
		if len(r) > 0 && r[0] == first {
			return r
		}
	}
	return nil
}

// chromiumPath returns chromium's path, or skips t (fails it under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	peertest.Missing(t, "chromium is not installed (apt-get install chromium; .ci/run installs it)")
	return ""
}

// screenshotsOnFailure keeps, when t fails, a screenshot of each page (by
// file name) in t's artifact directory.
func screenshotsOnFailure(t *testing.T, path string, pages map[string]string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := t.ArtifactDir()
		for name, u := range pages {
			p := filepath.Join(dir, name)
			chromium(t, path, u, "--virtual-time-budget=3000", "--hide-scrollbars", "--screenshot="+p)
			if _, err := os.Stat(p); err == nil {
				t.Logf("screenshot of %s: %s", u, p)
			}
		}
	})
}

func TestStatusPageInChromium(t *testing.T) {
	path := chromiumPath(t)
	url := pageServer(t)
	screenshotsOnFailure(t, path, map[string]string{"status.png": url + "/", "jobs.png": url + "/jobs?function=resize", "dead.png": url + "/dead"})

	// Without JavaScript: the server's tables, as served (headless
	// chromium's --dump-dom needs scripts, so the HTML is read as is).
	_, dom := get(t, url+"/")
	if !strings.Contains(dom, `name="viewport" content="width=device-width, initial-scale=1"`) {
		t.Errorf("no viewport meta for phones in:\n%s", dom)
	}
	tb := tables(dom)
	// Function, High, Normal, Low, Running, Scheduled, Workers, Oldest, Done.
	if got, want := fmt.Sprint(row(tb["functions"], "resize")[:7]), "[resize 0 2 0 1 0 1]"; got != want {
		t.Errorf("resize row without JavaScript: %v; want %v", got, want)
	}
	if got, want := fmt.Sprint(row(tb["functions"], "email")[:7]), "[email 0 0 1 0 0 0]"; got != want {
		t.Errorf("email row without JavaScript: %v; want %v", got, want)
	}
	if row(tb["functions"], "late") != nil {
		t.Fatalf("the late job is on the page before any /api/status request: the test proves nothing")
	}
	if got := deadCount(dom); got != "1" {
		t.Errorf("dead letters without JavaScript: %q; want 1", got)
	}
	if ws := tb["workers"]; len(ws) != 1 || len(ws[0]) != 5 || ws[0][2] != "thumbnailer-7" || ws[0][3] != "resize" || ws[0][4] != "1" {
		t.Errorf("workers without JavaScript: %v; want one row, thumbnailer-7 serving resize, running 1", ws)
	}
	if strings.Contains(dom, `id="cluster"`) || tb["nodes"] != nil {
		t.Errorf("a Cluster section on a server without a shared store:\n%s", dom)
	}

	// With JavaScript: the page fetches /api/status and shows the job
	// submitted at that moment.
	dom = chromium(t, path, url+"/", "--virtual-time-budget=5000", "--dump-dom")
	if !strings.Contains(dom, `data-live="ok"`) {
		t.Errorf("the page did not update itself (no data-live=ok):\n%s", dom)
	}
	tb = tables(dom)
	if got, want := fmt.Sprint(row(tb["functions"], "late")[:7]), "[late 0 1 0 0 0 0]"; got != want {
		t.Errorf("late row after a live update: %v; want %v", got, want)
	}
	if got, want := fmt.Sprint(row(tb["functions"], "resize")[:7]), "[resize 0 2 0 1 0 1]"; got != want {
		t.Errorf("resize row after a live update: %v; want %v", got, want)
	}
	if got := deadCount(dom); got != "1" {
		t.Errorf("dead letters after a live update: %q; want 1", got)
	}

	// The jobs of a function, live: running first, then queued in order.
	dom = chromium(t, path, url+"/jobs?function=resize", "--virtual-time-budget=5000", "--dump-dom")
	if !strings.Contains(dom, `data-live="ok"`) {
		t.Errorf("the jobs page did not update itself:\n%s", dom)
	}
	var got []string
	for _, r := range tables(dom)["jobs"] {
		if len(r) < 4 {
			t.Fatalf("jobs row %v", r)
		}
		got = append(got, strings.Join(r[:4], " "))
	}
	want := []string{"H:test:3 img-3 high running", "H:test:1 img-1 normal queued", "H:test:2 img-2 normal queued"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("jobs of resize: %q; want %q", got, want)
	}

	// The dead letters: listed with a form per row, which works without
	// JavaScript (a POST, then 303 back to the list).
	dom = chromium(t, path, url+"/dead", "--virtual-time-budget=3000", "--dump-dom")
	dead := row(tables(dom)["dead"], "H:test:5")
	if len(dead) < 5 || dead[1] != "flaky" || dead[2] != "order-9" || dead[3] != "1" || html.UnescapeString(dead[4]) != "card <declined>" {
		t.Errorf("dead letter row: %q; want H:test:5 flaky order-9 1 \"card <declined>\"", dead)
	}
	if !strings.Contains(dom, `<form method="post" action="/dead/retry"><input type="hidden" name="handle" value="H:test:5">`) {
		t.Errorf("no retry form for H:test:5 in:\n%s", dom)
	}
	// A cross-origin form post is refused: the page has no authentication.
	req, _ := http.NewRequest("POST", url+"/dead/purge", strings.NewReader("all=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://elsewhere.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin purge: %s; want 403", resp.Status)
	}
	resp, err := http.PostForm(url+"/dead/retry", neturl.Values{"handle": {"H:test:5"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/dead" || !strings.Contains(string(body), "Dead letters retried 1.") ||
		!strings.Contains(string(body), "No dead letters.") {
		t.Errorf("retry form: %s at %s:\n%s", resp.Status, resp.Request.URL, body)
	}
	if _, dom := get(t, url+"/"); deadCount(dom) != "0" {
		t.Errorf("dead letters after the retry: %q; want 0", deadCount(dom))
	}
}

var deadCountRE = regexp.MustCompile(`<span id="dead-count">([^<]*)</span>`)

// deadCount returns the status page's count of dead letters.
func deadCount(dom string) string {
	m := deadCountRE.FindStringSubmatch(dom)
	if m == nil {
		return "(none on the page)"
	}
	return m[1]
}

// TestStatusPageClusterInChromium: on a cluster of two servers on
// PostgreSQL, the status page of one has a Cluster section: both servers
// with their leases, the shared queue's jobs by function and state
// (whichever server holds them), and the cluster's dead letters; without
// JavaScript as served, and kept up to date live: the page's first
// /api/cluster request purges the dead letter (through the other server's
// store), and the live page shows it gone.
func TestStatusPageClusterInChromium(t *testing.T) {
	path := chromiumPath(t)
	db := pgtest.Start(t)
	a, addrA := clusterServer(t, db, "a")
	st, err := gearman.OpenStore(t.Context(), db, &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	b := &gearman.Server{HandlePrefix: "H:b", Store: st, RetryFailed: gearman.RetryPolicy{Keep: true}}
	addrB := srvStart(t, b)

	c := wiretest.Dial(t, addrA)
	for _, u := range []string{"img-1", "img-2"} {
		c.Send(wire.SubmitJobBg, "resize", u, "x") // no worker anywhere: free in the shared queue
		c.ExpectType(wire.JobCreated)
	}
	c.Send(wire.SubmitJobEpoch, "report", "", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "x")
	c.ExpectType(wire.JobCreated)
	c.Send(wire.SubmitJobBg, "flaky", "order-9", "e")
	c.ExpectType(wire.JobCreated)
	wb := wiretest.Dial(t, addrB) // b takes flaky's job and fails it: a dead letter of the cluster
	wb.Send(wire.CanDo, "flaky")
	wb.Send(wire.PreSleep)
	got := expectAssigned(t, wb, 10*time.Second)
	wb.Send(wire.WorkFail, got.Args[0])
	wb.Send(wire.CantDo, "flaky")
	waitDead(t, b, 1)

	h := a.Handler()
	var once sync.Once
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/cluster" {
			once.Do(func() {
				if n, err := a.PurgeDeadLetters(r.Context(), "", ""); err != nil || n != 1 {
					t.Errorf("purging the cluster's dead letters through a: %d, %v; want 1", n, err)
				}
			})
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(hs.Close)
	url := hs.URL
	screenshotsOnFailure(t, path, map[string]string{"cluster.png": url + "/"})

	check := func(how, dom string, dead int) {
		t.Helper()
		tb := tables(dom)
		nodes := tb["nodes"]
		selves := 0
		for _, n := range nodes {
			if len(n) != 3 || !strings.HasSuffix(n[1], " left") {
				t.Errorf("%s: server row %q; want its number, its lease's time left, its age", how, n)
			}
			if len(n) > 0 && strings.HasSuffix(n[0], " (this one)") {
				selves++
			}
		}
		if len(nodes) != 2 || selves != 1 {
			t.Errorf("%s: servers %q; want two, one of them this one", how, nodes)
		}
		// Function, Queued, Held, Running, Waiting, Dead.
		want := [][]string{{"report", "0", "0", "0", "1", "0"}, {"resize", "2", "0", "0", "0", "0"}}
		if dead > 0 {
			want = append([][]string{{"flaky", "0", "0", "0", "0", "1"}}, want...)
		}
		if fmt.Sprint(tb["shared"]) != fmt.Sprint(want) {
			t.Errorf("%s: shared queue %q; want %q", how, tb["shared"], want)
		}
		if m := clusterDeadRE.FindStringSubmatch(dom); m == nil || m[1] != strconv.Itoa(dead) {
			t.Errorf("%s: the cluster's dead letters %q; want %d", how, m, dead)
		}
		if got := deadCount(dom); got != strconv.Itoa(dead) {
			t.Errorf("%s: the header's dead letters %q; want the cluster's %d", how, got, dead)
		}
	}
	_, dom := get(t, url+"/")
	check("without JavaScript", dom, 1)
	dom = chromium(t, path, url+"/", "--virtual-time-budget=5000", "--dump-dom")
	if !strings.Contains(dom, `data-live="ok"`) {
		t.Errorf("the page did not update itself (no data-live=ok):\n%s", dom)
	}
	check("after a live update", dom, 0)
}

var clusterDeadRE = regexp.MustCompile(`<span id="cluster-dead">([^<]*)</span>`)
