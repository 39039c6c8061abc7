package gearman_test

import (
	"errors"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// Schedule's fields take what its doc says: steps, ranges and lists; a
// malformed field, or a schedule that never matches, is the server's
// *ServerError. gearmand refuses every scheduled job.
func TestScheduleFields(t *testing.T) {
	addr := srvStart(t, &gearman.Server{})
	ctx := testCtx(t)
	c := dial(t, addr, nil)
	for _, tc := range []struct {
		s  gearman.Schedule
		ok bool
	}{
		{gearman.Schedule{}, true},
		{gearman.Schedule{Minute: "*/5"}, true},
		{gearman.Schedule{Minute: "0,30", Hour: "9-17", DayOfWeek: "1-5"}, true},
		{gearman.Schedule{Minute: "10-50/20", DayOfMonth: "1,15", Month: "*", DayOfWeek: "7"}, true},
		{gearman.Schedule{Minute: "60"}, false},
		{gearman.Schedule{Hour: "every"}, false},
		{gearman.Schedule{DayOfMonth: "30", Month: "2"}, false},
	} {
		_, err := c.Submit(ctx, gearman.Job{Func: "cron", Background: true, Schedule: &tc.s})
		var se *gearman.ServerError
		if tc.ok && err != nil || !tc.ok && !errors.As(err, &se) {
			t.Errorf("schedule %+v: %v; want ok=%v", tc.s, err, tc.ok)
		}
	}

	gd := dial(t, peertest.Gearmand(t), nil)
	_, err := gd.Submit(ctx, gearman.Job{Func: "cron", Background: true, Schedule: &gearman.Schedule{Minute: "0"}})
	var se *gearman.ServerError
	if !errors.As(err, &se) || se.Code != "INVALID_COMMAND" {
		t.Errorf("gearmand: %v; want ERROR INVALID_COMMAND", err)
	}
}
