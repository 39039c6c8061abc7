package gearman_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/wiretest"
	"github.com/seed749d6d6d/gearman/wire"
)

// getJSON decodes the JSON answer of a GET of url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestAPI checks the JSON API against a server in fake time.
func TestAPI(t *testing.T) {
	s := &gearman.Server{}
	clk := srvFakeClock(s, time.Unix(1_800_000_000, 0))
	addr, url := opsServer(t, s)
	c := wiretest.Dial(t, addr)
	c.Send(wire.SubmitJobLowBg, "f", "u-1", "a")
	c.Expect(wire.JobCreated, "H:test:1")
	c.Send(wire.SubmitJobBg, "f", "u-2", "b")
	c.Expect(wire.JobCreated, "H:test:2")
	c.Send(wire.SubmitJobEpoch, "f", "", "1800003600", "later")
	c.Expect(wire.JobCreated, "H:test:3")
	w := wiretest.Dial(t, addr)
	w.Send(wire.SetClientID, "w1")
	w.Send(wire.CanDo, "f")
	w.Send(wire.GrabJob)
	w.Expect(wire.JobAssign, "H:test:2", "f", "b")
	clk.Advance(90 * time.Second)

	type fn struct {
		Function  string
		Total     int
		Running   int
		Workers   int
		Queued    struct{ High, Normal, Low int }
		Scheduled int
		OldestAge *float64 `json:"oldest_age_seconds"`
	}
	var st struct {
		Connections int
		Functions   []fn
	}
	getJSON(t, url+"/api/status", &st)
	ninety := 90.0
	want := fn{Function: "f", Total: 3, Running: 1, Workers: 1, Scheduled: 1, OldestAge: &ninety}
	want.Queued.Low = 1
	if st.Connections != 2 || len(st.Functions) != 1 {
		t.Fatalf("status: %+v; want 2 connections, one function", st)
	}
	if d := cmp.Diff(want, st.Functions[0]); d != "" {
		t.Errorf("status of f (-want +got):\n%s", d)
	}

	var ws []struct {
		FD        int
		ClientID  string `json:"client_id"`
		Functions []string
		Running   int
	}
	getJSON(t, url+"/api/workers", &ws)
	if len(ws) != 2 || ws[1].ClientID != "w1" || cmp.Diff([]string{"f"}, ws[1].Functions) != "" || ws[1].Running != 1 || len(ws[0].Functions) != 0 {
		t.Errorf("workers: %+v; want the client, then w1 serving f, running 1", ws)
	}

	type job struct {
		Handle, Unique, Priority, State string
		Background                      bool
		Age                             float64 `json:"age_seconds"`
		Worker                          int
	}
	var js struct{ Jobs []job }
	getJSON(t, url+"/api/jobs?function=f", &js)
	wantJobs := []job{
		{"H:test:2", "u-2", "normal", "running", true, 90, ws[1].FD},
		{"H:test:1", "u-1", "low", "queued", true, 90, 0},
		{"H:test:3", "", "normal", "waiting", true, 90, 0},
	}
	if d := cmp.Diff(wantJobs, js.Jobs); d != "" {
		t.Errorf("jobs of f (-want +got):\n%s", d)
	}
	getJSON(t, url+"/api/jobs?function=f&limit=1", &js)
	if len(js.Jobs) != 1 {
		t.Errorf("jobs with limit=1: %d", len(js.Jobs))
	}
	if code, _ := get(t, url+"/api/jobs"); code != http.StatusBadRequest {
		t.Errorf("jobs without a function: %d; want 400", code)
	}
}
