package jobserver

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// SUBMIT_JOB_SCHED makes a recurring background job, like a crontab line.
//
// Its five time fields are minute (0-59), hour (0-23), day of month (1-31),
// month (1-12) and day of week (0-6, Sunday = 0 or 7), read in UTC. Each
// field is empty or "*" (any value), a number, a range "a-b", a step "*/n"
// or "a-b/n", or a comma-separated list of those. As in cron, when both the
// day of month and the day of week are restricted, a day matching either
// one qualifies.
//
// The job gets one handle for its whole life. At each matching minute it is
// queued like a background NORMAL job; when a run ends (complete, fail,
// exception or time-out) it waits for the next matching minute. A run that
// is still queued or running when the next minute matches is not queued
// twice. The admin command "cancel job" ends the schedule; so does the end
// of the server. Its unique id is taken for as long as the schedule lives,
// so submitting the same schedule again returns the same handle.

// schedule is a parsed SUBMIT_JOB_SCHED spec.
type schedule struct {
	minute, hour, mday, month, wday cronField
	spec                            string // the five fields, space-separated, empty ones as "*"
}

// cronField is the set of values a field allows.
type cronField struct {
	bits uint64
	any  bool
}

func (f cronField) has(v int) bool { return f.any || f.bits&(1<<uint(v)) != 0 }

// errSchedule is the error for a malformed or impossible schedule.
var errSchedule = errors.New("Invalid schedule")

// parseSchedule reads the five fields of SUBMIT_JOB_SCHED.
func parseSchedule(args [][]byte) (*schedule, error) {
	var sc schedule
	var err error
	fields := make([]string, len(args))
	for i, a := range args {
		fields[i] = string(a)
		if fields[i] == "" {
			fields[i] = "*"
		}
	}
	sc.spec = strings.Join(fields, " ")
	spec := []struct {
		dst    *cronField
		lo, hi int
		name   string
	}{
		{&sc.minute, 0, 59, "minute"}, {&sc.hour, 0, 23, "hour"}, {&sc.mday, 1, 31, "day of month"},
		{&sc.month, 1, 12, "month"}, {&sc.wday, 0, 7, "day of week"},
	}
	for i, f := range spec {
		if *f.dst, err = parseField(string(args[i]), f.lo, f.hi); err != nil {
			return nil, errors.New("Invalid schedule " + f.name + " field " + strconv.Quote(string(args[i])))
		}
	}
	if sc.wday.bits&(1<<7) != 0 {
		sc.wday.bits |= 1
	}
	if sc.next(time.Unix(0, 0)) == 0 {
		return nil, errSchedule
	}
	return &sc, nil
}

// parseField reads one cron field with values in [lo, hi].
func parseField(s string, lo, hi int) (cronField, error) {
	if s == "" || s == "*" {
		return cronField{any: true}, nil
	}
	var f cronField
	for _, part := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 {
				return f, errSchedule
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			x, y, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = strconv.Atoi(x); err != nil {
				return f, errSchedule
			}
			b = a
			if isRange {
				if b, err = strconv.Atoi(y); err != nil {
					return f, errSchedule
				}
			} else if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return f, errSchedule
		}
		for v := a; v <= b; v += step {
			f.bits |= 1 << uint(v)
		}
	}
	return f, nil
}

// dayMatches applies cron's rule for the two day fields.
func (sc *schedule) dayMatches(t time.Time) bool {
	md, wd := sc.mday.has(t.Day()), sc.wday.has(int(t.Weekday()))
	if !sc.mday.any && !sc.wday.any {
		return md || wd
	}
	return md && wd
}

// next returns the Unix time of the first matching minute after t, or 0 if
// none comes within eight years (such as February 30).
func (sc *schedule) next(t time.Time) int64 {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for range 8 * 366 {
		if sc.month.has(int(day.Month())) && sc.dayMatches(day) {
			for h := range 24 {
				if !sc.hour.has(h) {
					continue
				}
				for m := range 60 {
					if !sc.minute.has(m) {
						continue
					}
					at := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
					if !at.Before(t) {
						return at.Unix()
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return 0
}
