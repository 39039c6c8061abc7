package ops

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The JSON API mirrors the admin commands: /api/status is "status" and
// "prioritystatus" in one, /api/workers is "workers", /api/jobs?function=F
// lists F's jobs (first Options.JobList, or &limit=N up to it). The page
// renders the same views.

// prioCounts are jobs waiting for a worker, by priority.
type prioCounts struct {
	High   int `json:"high"`
	Normal int `json:"normal"`
	Low    int `json:"low"`
}

// funcView is one function of /api/status and the page.
type funcView struct {
	Function  string     `json:"function"`
	Total     int        `json:"total"`
	Running   int        `json:"running"`
	Workers   int        `json:"workers"`
	Queued    prioCounts `json:"queued"`
	Scheduled int        `json:"scheduled"`
	// OldestAge is how long the longest-queued job has waited, in
	// seconds; null when no job waits.
	OldestAge *float64 `json:"oldest_age_seconds"`
	// Throughput is jobs ended per second over the last minute; null
	// until a second has passed since the first request, or for a
	// function past the label cap.
	Throughput *float64 `json:"throughput_per_second"`
}

// statusView is /api/status.
type statusView struct {
	Version     string     `json:"version"`
	Time        time.Time  `json:"time"`
	Connections int        `json:"connections"`
	Functions   []funcView `json:"functions"`
	// DeadLetters is the number of dead letters (see /api/dead): this
	// server's, or with PostgreSQL the cluster's, counted at most every
	// 5 s (at once after a change made on this server); null when the
	// database could not be asked.
	DeadLetters *int `json:"dead_letters"`
}

// workerView is one connection of /api/workers, as the admin "workers"
// lists it.
type workerView struct {
	FD        int      `json:"fd"`
	IP        string   `json:"ip"`
	ClientID  string   `json:"client_id"`
	Functions []string `json:"functions"`
	Running   int      `json:"running"`
}

// jobView is one job of /api/jobs.
type jobView struct {
	Handle     string     `json:"handle"`
	Unique     string     `json:"unique"`
	Priority   string     `json:"priority"`
	State      string     `json:"state"`
	Background bool       `json:"background"`
	Retries    int        `json:"retries"`
	Age        float64    `json:"age_seconds"` // since its first submit
	When       *time.Time `json:"when,omitempty"`
	Worker     int        `json:"worker,omitempty"` // the fd of the worker running it
}

// jobsView is /api/jobs.
type jobsView struct {
	Function string    `json:"function"`
	Time     time.Time `json:"time"`
	Jobs     []jobView `json:"jobs"`
}

func (h *handler) status(ctx context.Context) statusView {
	funcs, conns, now := h.eng.Status()
	rates := h.throughput(funcs, now)
	v := statusView{Version: h.opts.Version, Time: now, Connections: conns, Functions: []funcView{}}
	for _, f := range funcs {
		fv := funcView{
			Function: f.Name, Total: f.Total, Running: f.Running, Workers: f.Workers,
			Queued:    prioCounts{High: f.High, Normal: f.Normal, Low: f.Low},
			Scheduled: f.Waiting,
		}
		if !f.Oldest.IsZero() {
			age := round3(max(now.Sub(f.Oldest).Seconds(), 0))
			fv.OldestAge = &age
		}
		if r, ok := rates[f.Name]; ok {
			r = round3(r)
			fv.Throughput = &r
		}
		v.Functions = append(v.Functions, fv)
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if counts, err := h.eng.DeadCounts(ctx); err == nil {
		n := 0
		for _, c := range counts {
			n += c
		}
		v.DeadLetters = &n
	}
	return v
}

func (h *handler) workers() []workerView {
	out := []workerView{}
	for _, c := range h.eng.Conns() {
		fs := c.Funcs
		if fs == nil {
			fs = []string{}
		}
		out = append(out, workerView{FD: c.ID, IP: c.IP, ClientID: c.ClientID, Functions: fs, Running: c.Running})
	}
	return out
}

// jobs lists the jobs of the function the request names.
func (h *handler) jobs(r *http.Request) jobsView {
	name := r.URL.Query().Get("function")
	limit := h.opts.JobList
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < limit {
		limit = n
	}
	_, _, now := h.eng.Status()
	v := jobsView{Function: name, Time: now, Jobs: []jobView{}}
	for _, j := range h.eng.Jobs(name, limit) {
		jv := jobView{
			Handle: j.Handle, Unique: j.Unique, Priority: j.Priority, State: j.State,
			Background: j.Background, Retries: j.Retries, Worker: j.Worker,
			Age: round3(max(now.Sub(j.Created).Seconds(), 0)),
		}
		if !j.When.IsZero() {
			w := j.When.UTC()
			jv.When = &w
		}
		v.Jobs = append(v.Jobs, jv)
	}
	return v
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func (h *handler) apiStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, h.status(r.Context()))
}

func (h *handler) apiWorkers(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.workers()) }

func (h *handler) apiJobs(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("function") == "" {
		http.Error(w, "want ?function=NAME", http.StatusBadRequest)
		return
	}
	writeJSON(w, h.jobs(r))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
