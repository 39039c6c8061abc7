package ops

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// storeTimeout bounds what a scrape or a status asks a shared store (the
// cluster's dead-letter count).
const storeTimeout = 2 * time.Second

// collector reads the engine's snapshot at each scrape (see
// jobserver.Metrics); nothing is counted on its behalf between scrapes.
type collector struct {
	eng       *jobserver.Server
	buildInfo prometheus.Metric

	jobs, running, waiting, workers, scheduled, queued, oldest *prometheus.Desc
	submitted, finished, requeued, coalesced, rejected         *prometheus.Desc
	connections, wait, run                                     *prometheus.Desc
	retried, buried, deadDropped, dead                         *prometheus.Desc
}

func newCollector(eng *jobserver.Server, version string) *collector {
	fn := []string{"function"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	module, revision := "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		module = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return &collector{
		eng: eng,
		buildInfo: prometheus.MustNewConstMetric(
			d("gearman_build_info", "Always 1; the labels say what runs.", "version", "module_version", "revision", "goversion"),
			prometheus.GaugeValue, 1, version, module, revision, runtime.Version()),
		jobs:        d("gearman_jobs", "Jobs of the function in any state (queued, running, scheduled), as the admin status's total.", fn...),
		running:     d("gearman_jobs_running", "Jobs of the function held by workers.", fn...),
		waiting:     d("gearman_jobs_waiting", "Jobs of the function not running: gearman_jobs less gearman_jobs_running.", fn...),
		workers:     d("gearman_workers", "Workers registered for the function (registrations, duplicates included).", fn...),
		scheduled:   d("gearman_jobs_scheduled", "Epoch and scheduled jobs of the function whose time has not come.", fn...),
		queued:      d("gearman_jobs_queued", "Jobs of the function waiting for a worker, by priority.", "function", "priority"),
		oldest:      d("gearman_queue_oldest_job_age_seconds", "How long the function's longest-queued job has waited for a worker (0 when none waits).", fn...),
		submitted:   d("gearman_jobs_submitted_total", "Jobs created by submits (a submit that joins a job by unique id is coalesced instead).", fn...),
		finished:    d("gearman_jobs_finished_total", "Jobs ended, and runs of scheduled jobs, by result.", "function", "result"),
		requeued:    d("gearman_jobs_requeued_total", "Attempts lost with their worker and queued again.", fn...),
		coalesced:   d("gearman_jobs_coalesced_total", "Submits that joined a queued or running job with the same unique id.", fn...),
		rejected:    d("gearman_submits_rejected_total", "Submits refused with ERROR, by reason.", "reason"),
		retried:     d("gearman_jobs_retried_total", "Failed background jobs queued again: after their backoff, or out of the dead-letter list by an operator.", fn...),
		buried:      d("gearman_jobs_dead_lettered_total", "Failed background jobs out of retries that became dead letters.", fn...),
		deadDropped: d("gearman_dead_letters_dropped_total", "Dead letters dropped, oldest first, to keep the list within its bound.", fn...),
		dead:        d("gearman_dead_letters", "Dead letters of the function: this server's, or with PostgreSQL the cluster's (counted at most every 5 s; absent while the database cannot be asked).", fn...),
		connections: d("gearman_connections", "Open connections (clients, workers and admin)."),
		wait:        d("gearman_job_wait_seconds", "Time from a job's queueing (its submit, its time coming, or its requeue) to its assignment to a worker.", fn...),
		run:         d("gearman_job_run_seconds", "Time from a job's assignment to its end (or its cancellation, or the loss of a last attempt).", fn...),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo.Desc(), c.jobs, c.running, c.waiting, c.workers,
		c.scheduled, c.queued, c.oldest, c.submitted, c.finished, c.requeued, c.coalesced,
		c.rejected, c.connections, c.wait, c.run, c.retried, c.buried, c.deadDropped, c.dead} {
		ch <- d
	}
}

var prioLabels = [...]string{"high", "normal", "low"}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m := c.eng.Metrics(ctx)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- c.buildInfo
	gauge(c.connections, float64(m.Connections))
	for i, n := range m.Rejected {
		counter(c.rejected, n, jobserver.RejectNames[i])
	}
	for _, f := range m.Funcs {
		l := f.Label
		gauge(c.jobs, float64(f.Total), l)
		gauge(c.running, float64(f.Running), l)
		gauge(c.waiting, float64(f.Total-f.Running), l)
		gauge(c.workers, float64(f.Workers), l)
		gauge(c.scheduled, float64(f.Scheduled), l)
		for p, n := range f.Queued {
			gauge(c.queued, float64(n), l, prioLabels[p])
		}
		age := 0.0
		if !f.Oldest.IsZero() {
			age = max(m.Now.Sub(f.Oldest).Seconds(), 0)
		}
		gauge(c.oldest, age, l)
		counter(c.submitted, f.Submitted, l)
		counter(c.requeued, f.Requeued, l)
		counter(c.coalesced, f.Coalesced, l)
		counter(c.retried, f.Retried, l)
		counter(c.buried, f.Buried, l)
		counter(c.deadDropped, f.DeadDropped, l)
		if !m.DeadUnknown {
			gauge(c.dead, float64(f.DeadLetters), l)
		}
		for r, n := range f.Finished {
			counter(c.finished, n, l, jobserver.ResultNames[r])
		}
		ch <- histogram(c.wait, f.Wait, l)
		ch <- histogram(c.run, f.Run, l)
	}
}

func histogram(d *prometheus.Desc, h jobserver.Histogram, label string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for i, n := range h.Buckets {
		buckets[jobserver.HistogramBounds[i]] = n
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, label)
}
