// Package ops is the job server's HTTP side for operators: Prometheus
// metrics (/metrics), health (/healthz, /readyz), a live status page (/)
// and a JSON API that mirrors the admin commands (/api/). Package gearman
// exposes it as Server.Handler.
//
// Every figure is read from the engine when a request comes (metrics.go
// in internal/jobserver counts the rest under the engine's lock), so an
// idle handler costs nothing, and nothing here runs a goroutine.
package ops

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// Options configure [New].
type Options struct {
	Version         string // the server's version, for gearman_build_info and the page
	JobList         int    // jobs listed per function on the page and by /api/jobs; default 100
	MetricFunctions int    // functions labelled by name; default jobserver.DefaultMetricFunctions
}

// handler serves the operators' endpoints of one engine.
type handler struct {
	eng  *jobserver.Server
	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex // guards samples
	samples []sample   // finished counts over the last minute, for throughput
}

// New returns the handler of eng's endpoints. It turns the engine's
// metrics on.
func New(eng *jobserver.Server, opts Options) http.Handler {
	if opts.JobList <= 0 {
		opts.JobList = 100
	}
	eng.EnableMetrics(opts.MetricFunctions)
	h := &handler{eng: eng, opts: opts, mux: http.NewServeMux()}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(eng, opts.Version),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /api/status", h.apiStatus)
	h.mux.HandleFunc("GET /api/workers", h.apiWorkers)
	h.mux.HandleFunc("GET /api/jobs", h.apiJobs)
	h.mux.Handle("GET /assets/", http.FileServerFS(assets))
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /jobs", h.jobsPage)
	h.mux.HandleFunc("GET /api/dead", h.apiDead)
	h.mux.HandleFunc("GET /api/cluster", h.apiCluster)
	h.mux.HandleFunc("GET /dead", h.deadPage)
	csrf := http.NewCrossOriginProtection()
	h.mux.Handle("POST /api/dead/retry", csrf.Handler(h.apiDeadAction(false)))
	h.mux.Handle("POST /api/dead/purge", csrf.Handler(h.apiDeadAction(true)))
	h.mux.Handle("POST /dead/retry", csrf.Handler(h.pageDeadAction(false)))
	h.mux.Handle("POST /dead/purge", csrf.Handler(h.pageDeadAction(true)))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// healthz answers 200 while the process serves HTTP.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 while the server listens and its store, if any, can
// write; 503 with the reason otherwise.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.eng.Ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

// sample is the finished count of each counted function at one time.
type sample struct {
	at     time.Time
	counts map[string]uint64
}

// throughputWindow is how far back the page's throughput looks.
const throughputWindow = time.Minute

// throughput records the finished counts of funcs at now, at most one
// sample a second, and returns each counted function's jobs per second
// since the oldest sample of the last minute (absent while there is none
// a second old).
func (h *handler) throughput(funcs []jobserver.FuncStatus, now time.Time) map[string]float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.samples); n == 0 || now.Sub(h.samples[n-1].at) >= time.Second {
		s := sample{at: now, counts: make(map[string]uint64, len(funcs))}
		for _, f := range funcs {
			if f.Counted {
				s.counts[f.Name] = f.Finished
			}
		}
		h.samples = append(h.samples, s)
	}
	// Keep one sample at least a window old, so the rate spans the window.
	for len(h.samples) > 2 && now.Sub(h.samples[1].at) >= throughputWindow {
		h.samples = h.samples[1:]
	}
	old := h.samples[0]
	dt := now.Sub(old.at).Seconds()
	out := map[string]float64{}
	if dt < 1 {
		return out
	}
	for _, f := range funcs {
		if c, ok := old.counts[f.Name]; ok && f.Counted && f.Finished >= c {
			out[f.Name] = float64(f.Finished-c) / dt
		}
	}
	return out
}
