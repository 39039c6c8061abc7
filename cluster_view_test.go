package gearman_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/pgtest"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// TestClusterStatusCountsTheSharedQueue: the admin's "cluster status" and
// /api/cluster count every job of the cluster by state, whichever server
// holds it, where "status" counts only this server's; a server without a
// shared store says it is not in a cluster.
func TestClusterStatusCountsTheSharedQueue(t *testing.T) {
	url := pgtest.Start(t)
	a, addrA := clusterServer(t, url, "a")
	st, err := gearman.OpenStore(t.Context(), url, &clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	b := &gearman.Server{HandlePrefix: "H:b", Store: st, RetryFailed: gearman.RetryPolicy{Keep: true}}
	addrB := srvStart(t, b)
	hs := httptest.NewServer(a.Handler())
	defer hs.Close()

	c := wiretest.Dial(t, addrA)
	submit := func(fn, unique string) {
		c.Send(wire.SubmitJobBg, fn, unique, "x")
		c.ExpectType(wire.JobCreated)
	}
	submit("h", "")
	submit("f", "1")
	// b kills h's job, and runs f's; then f gets two more, which b's
	// busy worker does not claim.
	wb := wiretest.Dial(t, addrB)
	wb.Send(wire.CanDo, "h")
	wb.Send(wire.PreSleep)
	got := expectAssigned(t, wb, 10*time.Second)
	wb.Send(wire.WorkFail, got.Args[0])
	wb.Send(wire.CantDo, "h")
	waitDead(t, b, 1)
	wb.Send(wire.CanDo, "f")
	wb.Send(wire.PreSleep)
	expectAssigned(t, wb, 10*time.Second) // held by b's worker from now on
	wb.Sync()
	submit("f", "2")
	submit("f", "3")
	c.Send(wire.SubmitJobEpoch, "g", "later", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "x")
	c.ExpectType(wire.JobCreated)
	// b's records so far are written once a later submit's is.
	cb := wiretest.Dial(t, addrB)
	cb.Send(wire.SubmitJobBg, "sync", "", "")
	cb.ExpectType(wire.JobCreated)

	// A free job may be claimed (held) by b meanwhile: queued and held
	// are summed. Columns: queued+held, running, waiting, dead.
	want := "f 2 1 0 0\ng 0 0 1 0\nh 0 0 0 1\nsync 1 0 0 0\n"
	adm := wiretest.Dial(t, addrA)
	cs := adm.Admin("cluster status", true)
	var sums strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(cs, ".\n"), "\n") {
		var fn string
		var q, h, r, w, d int
		if _, err := fmt.Sscanf(line, "%s\t%d\t%d\t%d\t%d\t%d", &fn, &q, &h, &r, &w, &d); err == nil {
			fmt.Fprintf(&sums, "%s %d %d %d %d\n", fn, q+h, r, w, d)
		}
	}
	if sums.String() != want {
		t.Errorf("cluster status on a = %q; want (summed) %q", cs, want)
	}
	if got := adm.Admin("status", true); !strings.Contains(got, "f\t0\t0\t0\n") {
		t.Errorf("status on a = %q; want none of the cluster's f jobs (a holds none)", got)
	}
	resp, err := http.Get(hs.URL + "/api/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Functions []struct {
			Function                       string
			Queued, Held, Running, Waiting int
			Dead                           int `json:"dead_letters"`
		}
		Nodes []struct {
			Node int64
			Self bool
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/cluster: %s: %v", resp.Status, err)
	}
	if len(v.Functions) != 4 || v.Functions[0].Function != "f" || v.Functions[0].Queued+v.Functions[0].Held != 2 ||
		v.Functions[0].Running != 1 || v.Functions[2].Dead != 1 {
		t.Errorf("/api/cluster functions: %+v", v.Functions)
	}
	selves := 0
	for _, n := range v.Nodes {
		if n.Self {
			selves++
		}
	}
	if len(v.Nodes) != 2 || selves != 1 {
		t.Errorf("/api/cluster nodes: %+v; want two, one of them a", v.Nodes)
	}
	// a keeps no dead letter itself; its gauge and its status count the
	// cluster's (b's).
	checkSamples(t, scrape(t, hs.URL+"/metrics"), map[string]float64{`gearman_dead_letters{function="h"}`: 1})
	var status struct {
		Dead *int `json:"dead_letters"`
	}
	getJSON(t, hs.URL+"/api/status", &status)
	if status.Dead == nil || *status.Dead != 1 {
		t.Errorf("/api/status dead_letters on a = %v; want the cluster's 1", status.Dead)
	}

	alone := wiretest.Dial(t, srvStart(t, &gearman.Server{}))
	if got := alone.Admin("cluster status", false); got != "ERR NOT_A_CLUSTER The+server+has+no+shared+store\r\n" {
		t.Errorf("cluster status without a shared store = %q", got)
	}
}
