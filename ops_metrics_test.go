package gearman_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// scrape returns the samples of url's Prometheus text, by "name{labels}".
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSamples fails for every sample of want that got lacks or differs in.
func checkSamples(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s missing; want %v", k, v)
		case g != v:
			t.Errorf("%s = %v; want %v", k, g, v)
		}
	}
}

// opsServer starts s with its Handler on a test HTTP server, and returns
// the Gearman address and the HTTP URL.
func opsServer(t *testing.T, s *gearman.Server) (addr, url string) {
	t.Helper()
	if s.HandlePrefix == "" {
		s.HandlePrefix = "H:test"
	}
	h := s.Handler() // before serving: counting starts here
	addr = srvStart(t, s)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return addr, hs.URL
}

// TestMetricsAfterKnownJobs runs a known sequence of jobs in fake time
// and checks the metrics' exact values: counters by result, histograms of
// wait and run, gauges, the oldest job's age, and the cap on labels.
func TestMetricsAfterKnownJobs(t *testing.T) {
	s := &gearman.Server{MetricFunctions: 2}
	clk := srvFakeClock(s, time.Unix(1_800_000_000, 0))
	addr, url := opsServer(t, s)

	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "a", "u1", "x")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobBg, "a", "u1", "x") // coalesced into H:test:1
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobBg, "a", "", "y")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJobHighBg, "a", "", "z")
	c.Expect(wire.JobCreated, "H:test:3")
	clk.Advance(2 * time.Second)

	// The high job waits 2 s and runs 3 s; the others wait 5 s and run 0.
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDo, "a")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:3", "a", "z")
	clk.Advance(3 * time.Second)
	w.Send(wire.WorkComplete, "H:test:3", "done")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:1", "a", "x")
	w.Send(wire.WorkFail, "H:test:1")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "a", "y")
	w.Send(wire.WorkException, "H:test:2", "boom")
	w.Sync()

	// b: the second label; cancelled while queued.
	c.Send(wire.SubmitJobBg, "b", "", "")
	c.Expect(wire.JobCreated, "H:test:4")
	adm := wiretest.Dial(t, addr)
	if got := adm.Admin("cancel job H:test:4", false); got != "OK\r\n" {
		t.Fatalf("cancel: %q", got)
	}
	// c and d: past the cap of 2, counted as "(other functions)". c's
	// queue is full at 1: a second submit is refused.
	c.Send(wire.SubmitJobBg, "c", "", "")
	c.Expect(wire.JobCreated, "H:test:5")
	if got := adm.Admin("maxqueue c 1", false); got != "OK\r\n" {
		t.Fatalf("maxqueue: %q", got)
	}
	c.Send(wire.SubmitJobBg, "c", "", "")
	c.ExpectType(wire.Error)
	c.Send(wire.SubmitJobBg, "d", "", "")
	c.Expect(wire.JobCreated, "H:test:6")
	clk.Advance(time.Second)
	// d's job runs and is lost with CANT_DO: queued again at +6 s.
	w.Send(wire.CanDo, "d")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:6", "d", "")
	w.Send(wire.CantDo, "d")
	w.Sync()
	clk.Advance(4 * time.Second) // now +10 s: c's job queued at +5 s, d's at +6 s

	const other = `"(other functions)"`
	checkSamples(t, scrape(t, url+"/metrics"), map[string]float64{
		`gearman_jobs_submitted_total{function="a"}`:                    3,
		`gearman_jobs_coalesced_total{function="a"}`:                    1,
		`gearman_jobs_finished_total{function="a",result="complete"}`:   1,
		`gearman_jobs_finished_total{function="a",result="fail"}`:       1,
		`gearman_jobs_finished_total{function="a",result="exception"}`:  1,
		`gearman_jobs_finished_total{function="a",result="timeout"}`:    0,
		`gearman_jobs_finished_total{function="a",result="cancelled"}`:  0,
		`gearman_job_wait_seconds_count{function="a"}`:                  3,
		`gearman_job_wait_seconds_sum{function="a"}`:                    12,
		`gearman_job_wait_seconds_bucket{function="a",le="2.5"}`:        1,
		`gearman_job_wait_seconds_bucket{function="a",le="5"}`:          3,
		`gearman_job_run_seconds_count{function="a"}`:                   3,
		`gearman_job_run_seconds_sum{function="a"}`:                     3,
		`gearman_job_run_seconds_bucket{function="a",le="0.0005"}`:      2,
		`gearman_job_run_seconds_bucket{function="a",le="2.5"}`:         2,
		`gearman_job_run_seconds_bucket{function="a",le="5"}`:           3,
		`gearman_jobs{function="a"}`:                                    0,
		`gearman_workers{function="a"}`:                                 1,
		`gearman_queue_oldest_job_age_seconds{function="a"}`:            0,
		`gearman_jobs_submitted_total{function="b"}`:                    1,
		`gearman_jobs_finished_total{function="b",result="cancelled"}`:  1,
		`gearman_jobs_submitted_total{function=` + other + `}`:          2,
		`gearman_jobs_requeued_total{function=` + other + `}`:           1,
		`gearman_jobs{function=` + other + `}`:                          2,
		`gearman_jobs_waiting{function=` + other + `}`:                  2,
		`gearman_jobs_running{function=` + other + `}`:                  0,
		`gearman_jobs_queued{function=` + other + `,priority="normal"}`: 2,
		`gearman_job_wait_seconds_count{function=` + other + `}`:        1,
		`gearman_job_wait_seconds_sum{function=` + other + `}`:          1,
		`gearman_queue_oldest_job_age_seconds{function=` + other + `}`:  5,
		`gearman_submits_rejected_total{reason="queue_full"}`:           1,
		`gearman_submits_rejected_total{reason="store_error"}`:          0,
		`gearman_connections`:                                           3,
	})
	got := scrape(t, url+"/metrics")
	for k := range got {
		if strings.Contains(k, `function="c"`) || strings.Contains(k, `function="d"`) {
			t.Errorf("%s: a function past the cap has a label of its own", k)
		}
	}
}

// TestMetricsTimeout counts a job that passes its worker's CAN_DO_TIMEOUT.
func TestMetricsTimeout(t *testing.T) {
	s := &gearman.Server{}
	clk := srvFakeClock(s, time.Unix(1_800_000_000, 0))
	addr, url := opsServer(t, s)
	w := wiretest.Dial(t, addr)
	w.Send(wire.CanDoTimeout, "slow", "1000")
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJob, "slow", "", "p")
	c.Expect(wire.JobCreated, "H:test:1")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:1", "slow", "p")
	clk.Advance(1500 * time.Millisecond)
	c.Expect(wire.WorkFail, "H:test:1")
	checkSamples(t, scrape(t, url+"/metrics"), map[string]float64{
		`gearman_jobs_finished_total{function="slow",result="timeout"}`: 1,
		`gearman_job_run_seconds_sum{function="slow"}`:                  1, // the timeout fires at its time
		`gearman_jobs_submitted_total{function="slow"}`:                 1,
	})
}

// TestMetricsBuildInfo checks the one constant series.
func TestMetricsBuildInfo(t *testing.T) {
	_, url := opsServer(t, &gearman.Server{Version: "9.9-test"})
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `gearman_build_info{`) || !strings.Contains(string(b), `version="9.9-test"`) {
		t.Errorf("no gearman_build_info with the server's version in:\n%.2000s", b)
	}
}
