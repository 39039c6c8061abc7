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
// and its servers. The other views count only the jobs this server holds.
// The store counts at most every few seconds (pgstore's clusterFresh).

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
}

// clusterView is /api/cluster: the shared queue as a whole.
type clusterView struct {
	Time      time.Time         `json:"time"`
	Functions []clusterFuncView `json:"functions"`
	Nodes     []clusterNodeView `json:"nodes"`
}

// apiCluster serves /api/cluster: 404 without a shared store.
func (h *handler) apiCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), deadTimeout)
	defer cancel()
	st, err := h.eng.ClusterStatus(ctx)
	switch {
	case errors.Is(err, jobserver.ErrNotCluster):
		http.Error(w, "gearman: "+err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "gearman: cluster: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	v := clusterView{Time: st.Time, Functions: []clusterFuncView{}, Nodes: []clusterNodeView{}}
	for _, f := range st.Funcs {
		v.Functions = append(v.Functions, clusterFuncView{f.Func, f.Queued, f.Held, f.Running, f.Waiting, f.Dead})
	}
	for _, n := range st.Nodes {
		v.Nodes = append(v.Nodes, clusterNodeView{n.ID, n.Lease, n.Started, n.Self})
	}
	writeJSON(w, v)
}
