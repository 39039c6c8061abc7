package ops

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"
)

// The status page: server-rendered tables (they work without JavaScript;
// a reload refreshes them), which assets/live.js refreshes every two
// seconds from the JSON API. Everything it loads is embedded and served
// under /assets/.

//go:embed assets
var assetsDir embed.FS

var (
	assets = assetsDir
	pages  = template.Must(template.New("").Funcs(template.FuncMap{
		"age":   fmtAge,
		"rate":  fmtRate,
		"lease": fmtLease,
	}).ParseFS(assetsDir, "assets/*.html"))
)

// fmtAge formats seconds as the page shows them ("-" for none); live.js
// has the same rules.
func fmtAge(v any) string {
	var s float64
	switch v := v.(type) {
	case float64:
		s = v
	case *float64:
		if v == nil {
			return "-"
		}
		s = *v
	}
	switch {
	case s < 60:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	case s < 3600:
		return strconv.FormatFloat(s/60, 'f', 1, 64) + "m"
	case s < 86400:
		return strconv.FormatFloat(s/3600, 'f', 1, 64) + "h"
	}
	return strconv.FormatFloat(s/86400, 'f', 1, 64) + "d"
}

// fmtLease formats a lease's time left as the page shows it; live.js has
// the same rules.
func fmtLease(s float64) string {
	if s < 0 {
		return "ran out " + fmtAge(-s) + " ago"
	}
	return fmtAge(s) + " left"
}

func fmtRate(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + "/s"
}

// page serves / : functions and workers, and the cluster with a shared
// store.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	var ws []workerView
	for _, c := range h.workers() {
		if len(c.Functions) > 0 {
			ws = append(ws, c)
		}
	}
	render(w, "status.html", struct {
		Status  statusView
		Workers []workerView
		Cluster *clusterSection
	}{h.status(r.Context()), ws, h.clusterSection(r.Context())})
}

// jobsPage serves /jobs?function=F: the function's first jobs.
func (h *handler) jobsPage(w http.ResponseWriter, r *http.Request) {
	render(w, "jobs.html", struct {
		Version string
		Jobs    jobsView
		Limit   int
	}{h.opts.Version, h.jobs(r), h.opts.JobList})
}

func render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "gearman: status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
