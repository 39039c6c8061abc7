package gearman

import (
	"net/http"

	"github.com/seed749d6d6d/gearman/internal/ops"
)

// Handler returns the server's HTTP side for operators, to serve on a
// listener of your own (cmd/gearmand's --http ADDR serves it):
//
//	/metrics      Prometheus metrics (names below)
//	/healthz      200 while the process serves HTTP
//	/readyz       200 while the server listens and its Store, if any, can
//	              write and be reached (PostgreSQL: pinged, at most once a
//	              second, within 1 s); 503 with the reason otherwise
//	              (closed, draining, not listening yet, the store failed,
//	              closed or unreachable)
//	/             a status page: functions, workers, the dead letters'
//	              count and, with a PostgreSQL store, the cluster's
//	              servers, shared queue and dead letters (live, and the
//	              tables also work without JavaScript)
//	/jobs?function=F   the first 100 jobs of F on the page
//	/api/status   JSON: each function's total, running, workers, queued
//	              by priority, scheduled, oldest job's age, throughput;
//	              the dead letters' count (as gearman_dead_letters)
//	/api/workers  JSON: the admin "workers" list
//	/api/jobs?function=F[&limit=N]   JSON: F's first jobs
//	/dead[?function=F]   the dead letters (see RetryPolicy), first 100,
//	              with forms to retry or purge one, a function's or all
//	/api/dead[?function=F][&limit=N]   JSON: the same, and the total
//	/api/cluster  JSON, with a PostgreSQL store: the shared queue's jobs by
//	              function and state, the dead letters, and the cluster's
//	              servers with their leases (404 without one; the jobs
//	              counted at most every 5 s)
//	POST /api/dead/retry, POST /api/dead/purge   handle=H, function=F or
//	              all=1 (form values): JSON {"retried": n} or {"purged": n};
//	              no selection is 400; cross-origin browser requests are
//	              refused (403)
//
// The first call turns counting on (the counters, the wait and run
// histograms and the oldest job's age start then: call it before
// serving); every call returns the same handler. Like the admin protocol,
// it has no authentication and shows function names, client ids and
// unique ids: serve it on loopback or a private address.
//
// # Metrics
//
// Per function (label function): gearman_jobs (the admin status's total:
// queued, running and scheduled), gearman_jobs_running,
// gearman_jobs_waiting (total less running), gearman_workers, as the
// widely used gearmand exporter names them; gearman_jobs_queued (label
// priority), gearman_jobs_scheduled, gearman_queue_oldest_job_age_seconds,
// gearman_jobs_submitted_total, gearman_jobs_coalesced_total,
// gearman_jobs_requeued_total, gearman_jobs_finished_total (label result:
// complete, fail, exception, timeout, cancelled; each failed attempt
// counts), gearman_jobs_retried_total (failed jobs queued again, after
// their backoff or by an operator), gearman_jobs_dead_lettered_total,
// gearman_dead_letters (now: this server's, or with PostgreSQL the
// cluster's, the same on every server, counted at most every 5 s and at
// once after this server wrote, retried or purged one; absent while the
// database cannot be asked),
// gearman_dead_letters_dropped_total (past Server.MaxDeadLetters), and
// the histograms gearman_job_wait_seconds (queued to assigned) and
// gearman_job_run_seconds (assigned to ended). Server-wide: gearman_connections,
// gearman_submits_rejected_total (label reason: queue_full, store_error,
// shutting_down, bad_unique, other), gearman_build_info, and the Go
// runtime's and the process's standard metrics.
//
// Function names come from peers, so the first [Server.MetricFunctions]
// names seen (100 by default) are labelled by name for the life of the
// server, and every other function is counted under the label value
// "(other functions)", which no function name can be (it holds a space).
//
// Counting costs no lock and no allocation of its own: the engine counts
// under the lock it holds for each request, and a scrape reads the state
// under that lock once.
func (s *Server) Handler() http.Handler {
	s.httpOnce.Do(func() {
		version := s.Version
		if version == "" {
			version = "1.1.20-gogearman"
		}
		s.httpH = ops.New(s.srv(), ops.Options{Version: version, MetricFunctions: s.MetricFunctions})
	})
	return s.httpH
}
