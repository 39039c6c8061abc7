package ops

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/seed749d6d6d/gearman/internal/jobserver"
)

// /api/cluster is the shared queue as a whole, on a server with a
// PostgreSQL store: every function's jobs by state across the cluster,
// the cluster's dead letters, and its servers; the status page shows the
// same in its Cluster section. The other views count only the jobs this
// server holds. The store counts the jobs at most every 5 s (pgstore's
// clusterFresh), and the dead letters as often, or at once after a
// change made on this server.

// clusterFuncView is one function of /api/cluster.
type clusterFuncView struct {
	Function string `json:"function"`
	Queued   int    `json:"queued"`
	Held     int    `json:"held"`
	Running  int    `json:"running"`
	Waiting  int    `json:"waiting"`
	Dead     int    `json:"dead_letters"`
}

// clusterNodeView is one server of /api/cluster.
type clusterNodeView struct {
	Node    int64     `json:"node"`
	Lease   time.Time `json:"lease_until"`
	Started time.Time `json:"started"`
	Self    bool      `json:"self"`
	// LeaseLeft is how long its lease had to run when counted, in
	// seconds; negative once it ran out (a server that stopped or lost
	// the database: its jobs go back to the cluster).
	LeaseLeft float64 `json:"lease_left_seconds"`
	// Age is how long it had been serving when counted, in seconds.
	Age float64 `json:"age_seconds"`
}

// clusterView is /api/cluster: the shared queue as a whole.
type clusterView struct {
	Time        time.Time         `json:"time"` // when the jobs were counted
	Functions   []clusterFuncView `json:"functions"`
	Nodes       []clusterNodeView `json:"nodes"`
	DeadLetters int               `json:"dead_letters"` // in all
}

// cluster returns the view of the shared queue; jobserver.ErrNotCluster
// without a shared store.
func (h *handler) cluster(ctx context.Context) (clusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, deadTimeout)
	defer cancel()
	st, err := h.eng.ClusterStatus(ctx)
	if err != nil {
		return clusterView{}, err
	}
	v := clusterView{Time: st.Time, Functions: []clusterFuncView{}, Nodes: []clusterNodeView{}}
	for _, f := range st.Funcs {
		v.Functions = append(v.Functions, clusterFuncView{f.Func, f.Queued, f.Held, f.Running, f.Waiting, f.Dead})
		v.DeadLetters += f.Dead
	}
	for _, n := range st.Nodes {
		v.Nodes = append(v.Nodes, clusterNodeView{
			Node: n.ID, Lease: n.Lease, Started: n.Started, Self: n.Self,
			LeaseLeft: round3(n.Lease.Sub(st.Time).Seconds()),
			Age:       round3(max(st.Time.Sub(n.Started).Seconds(), 0)),
		})
	}
	return v, nil
}

// apiCluster serves /api/cluster: 404 without a shared store.
func (h *handler) apiCluster(w http.ResponseWriter, r *http.Request) {
	v, err := h.cluster(r.Context())
	switch {
	case errors.Is(err, jobserver.ErrNotCluster):
		http.Error(w, "gearman: "+err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "gearman: cluster: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, v)
}

// clusterSection is the status page's Cluster section: nil without a
// shared store.
type clusterSection struct {
	clusterView
	Error string // the store could not count: the section says so
}

func (h *handler) clusterSection(ctx context.Context) *clusterSection {
	v, err := h.cluster(ctx)
	switch {
	case errors.Is(err, jobserver.ErrNotCluster):
		return nil
	case err != nil:
		return &clusterSection{Error: err.Error()}
	}
	return &clusterSection{clusterView: v}
}
