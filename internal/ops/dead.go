package ops

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// Dead letters (failed background jobs out of retries, see
// jobserver.RetryPolicy), as the admin's "show dead", "dead retry" and
// "dead purge":
//
//	GET  /api/dead[?function=F][&limit=N]   JSON: the first dead letters, oldest first, and the total
//	POST /api/dead/retry  handle=H | function=F | all=1   JSON {"retried": n}
//	POST /api/dead/purge  handle=H | function=F | all=1   JSON {"purged": n}
//	GET  /dead[?function=F]                 the page, with a form per row and per list
//	POST /dead/retry, /dead/purge           the page's forms: 303 back to /dead
//
// The POSTs take form values (a query string or an
// application/x-www-form-urlencoded body) and refuse a request without a
// selection, so that an empty request cannot purge everything; browsers'
// cross-origin POSTs are refused (http.CrossOriginProtection).

// deadTimeout bounds a dead-letter request that goes to a shared store.
const deadTimeout = 5 * time.Second

// deadView is one dead letter of /api/dead and the page.
type deadView struct {
	Handle   string    `json:"handle"`
	Function string    `json:"function"`
	Unique   string    `json:"unique"`
	Priority string    `json:"priority"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	First    time.Time `json:"first_failure"`
	Last     time.Time `json:"last_failure"`
	Size     int       `json:"size"` // the payload's, in bytes
}

// deadListView is /api/dead.
type deadListView struct {
	Function    string     `json:"function,omitempty"`
	Time        time.Time  `json:"time"`
	Total       int        `json:"total"`
	DeadLetters []deadView `json:"dead_letters"`
}

func (h *handler) deadList(r *http.Request) (deadListView, error) {
	q := r.URL.Query()
	limit := h.opts.JobList
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n < limit {
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadTimeout)
	defer cancel()
	list, total, err := h.eng.DeadLetters(ctx, q.Get("function"), limit)
	if err != nil {
		return deadListView{}, err
	}
	_, _, now := h.eng.Status()
	v := deadListView{Function: q.Get("function"), Time: now, Total: total, DeadLetters: []deadView{}}
	for _, d := range list {
		v.DeadLetters = append(v.DeadLetters, deadView{
			Handle: d.Handle, Function: d.Func, Unique: d.Unique, Priority: prioLabels[d.Priority],
			Attempts: d.Attempts, Error: d.Error, First: d.First, Last: d.Last, Size: len(d.Data),
		})
	}
	return v, nil
}

func (h *handler) apiDead(w http.ResponseWriter, r *http.Request) {
	v, err := h.deadList(r)
	if err != nil {
		http.Error(w, "gearman: dead letters: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, v)
}

// deadSelector reads a POST's selection; ok false when it has none.
func deadSelector(r *http.Request) (jobserver.DeadSelector, bool) {
	if err := r.ParseForm(); err != nil {
		return jobserver.DeadSelector{}, false
	}
	sel := jobserver.DeadSelector{Handle: r.Form.Get("handle"), Func: r.Form.Get("function")}
	return sel, sel.Handle != "" || sel.Func != "" || r.Form.Get("all") == "1"
}

// deadAction retries or purges the selected dead letters.
func (h *handler) deadAction(r *http.Request, purge bool) (int, int, error) {
	sel, ok := deadSelector(r)
	if !ok {
		return 0, http.StatusBadRequest, errNoSelection
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadTimeout)
	defer cancel()
	do := h.eng.RetryDead
	if purge {
		do = h.eng.PurgeDead
	}
	n, err := do(ctx, sel)
	if err != nil {
		return 0, http.StatusServiceUnavailable, err
	}
	return n, http.StatusOK, nil
}

type selectionError struct{}

func (selectionError) Error() string { return "want handle=H, function=F or all=1" }

var errNoSelection error = selectionError{}

func (h *handler) apiDeadAction(purge bool) http.HandlerFunc {
	key := "retried"
	if purge {
		key = "purged"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		n, code, err := h.deadAction(r, purge)
		if err != nil {
			http.Error(w, "gearman: dead letters: "+err.Error(), code)
			return
		}
		writeJSON(w, map[string]int{key: n})
	}
}

// pageDeadAction serves the page's forms: it acts, then sends the browser
// back to the list with what was done.
func (h *handler) pageDeadAction(purge bool) http.HandlerFunc {
	verb := "retried"
	if purge {
		verb = "purged"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		n, code, err := h.deadAction(r, purge)
		if err != nil {
			http.Error(w, "gearman: dead letters: "+err.Error(), code)
			return
		}
		q := url.Values{"done": {verb + " " + strconv.Itoa(n)}}
		if fn := r.Form.Get("back"); fn != "" {
			q.Set("function", fn)
		}
		http.Redirect(w, r, "/dead?"+q.Encode(), http.StatusSeeOther)
	}
}

// deadPage serves /dead: the dead letters, with forms to retry and purge.
func (h *handler) deadPage(w http.ResponseWriter, r *http.Request) {
	v, err := h.deadList(r)
	if err != nil {
		http.Error(w, "gearman: dead letters: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	render(w, "dead.html", struct {
		Version string
		Dead    deadListView
		Limit   int
		Done    string
	}{h.opts.Version, v, h.opts.JobList, r.URL.Query().Get("done")})
}
