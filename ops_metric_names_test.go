package gearman_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// TestMetricsHaveTheNamesDashboardsUse: every metric issue 20 names (the
// widely used gearmand exporter's, so that existing dashboards work, and
// what it lacks) is exported under that name, with its type, its labels
// and every value of the result and reason labels, once one job of one
// function was seen.
func TestMetricsHaveTheNamesDashboardsUse(t *testing.T) {
	addr, url := opsServer(t, &gearman.Server{})
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobBg, "f", "", "x")
	c.ExpectType(wire.JobCreated)

	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	types := map[string]string{} // name -> type, from "# TYPE" lines
	samples := map[string]bool{} // "name{labels}"
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		} else if line != "" && line[0] != '#' {
			samples[line[:strings.LastIndexByte(line, ' ')]] = true
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		// The gearmand exporter's.
		"gearman_jobs": "gauge", "gearman_jobs_running": "gauge", "gearman_jobs_waiting": "gauge", "gearman_workers": "gauge",
		// Added.
		"gearman_jobs_submitted_total": "counter", "gearman_jobs_finished_total": "counter",
		"gearman_jobs_requeued_total": "counter", "gearman_jobs_coalesced_total": "counter",
		"gearman_submits_rejected_total": "counter", "gearman_queue_oldest_job_age_seconds": "gauge",
		"gearman_jobs_scheduled": "gauge", "gearman_connections": "gauge", "gearman_build_info": "gauge",
		"gearman_job_wait_seconds": "histogram", "gearman_job_run_seconds": "histogram",
		// Of the failed jobs.
		"gearman_jobs_queued": "gauge", "gearman_jobs_retried_total": "counter", "gearman_jobs_dead_lettered_total": "counter",
		"gearman_dead_letters": "gauge", "gearman_dead_letters_dropped_total": "counter",
	} {
		if got := types[name]; got != typ {
			t.Errorf("metric %s: type %q; want %q", name, got, typ)
		}
	}
	var want []string
	for _, name := range []string{"gearman_jobs", "gearman_jobs_running", "gearman_jobs_waiting", "gearman_workers",
		"gearman_jobs_submitted_total", "gearman_jobs_requeued_total", "gearman_jobs_coalesced_total",
		"gearman_queue_oldest_job_age_seconds", "gearman_jobs_scheduled", "gearman_job_wait_seconds_count",
		"gearman_job_run_seconds_count", "gearman_dead_letters"} {
		want = append(want, name+`{function="f"}`)
	}
	for _, r := range []string{"complete", "fail", "exception", "timeout", "cancelled"} {
		want = append(want, `gearman_jobs_finished_total{function="f",result="`+r+`"}`)
	}
	for _, r := range []string{"queue_full", "store_error", "shutting_down", "bad_unique", "other"} {
		want = append(want, `gearman_submits_rejected_total{reason="`+r+`"}`)
	}
	want = append(want, "gearman_connections")
	for _, s := range want {
		if !samples[s] {
			t.Errorf("no sample %s", s)
		}
	}
	if t.Failed() {
		t.Logf("the samples:\n%s", strings.Join(lines, "\n"))
	}
}
