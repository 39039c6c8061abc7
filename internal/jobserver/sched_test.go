package jobserver

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	from := time.Date(2030, 1, 1, 10, 30, 15, 0, time.UTC) // a Tuesday
	for _, tc := range []struct {
		f    [5]string
		want string
	}{
		{[5]string{"", "", "", "", ""}, "2030-01-01T10:31:00Z"},
		{[5]string{"*/15", "", "", "", ""}, "2030-01-01T10:45:00Z"},
		{[5]string{"0", "9", "", "", ""}, "2030-01-02T09:00:00Z"},
		{[5]string{"0", "0", "", "", "0"}, "2030-01-06T00:00:00Z"},         // Sunday
		{[5]string{"0", "0", "", "", "7"}, "2030-01-06T00:00:00Z"},         // Sunday as 7
		{[5]string{"0", "0", "15", "", "1"}, "2030-01-07T00:00:00Z"},       // cron: day of month OR day of week
		{[5]string{"5", "4", "29", "2", ""}, "2032-02-29T04:05:00Z"},       // leap day
		{[5]string{"1,2", "10-11", "1", "1", "*"}, "2030-01-01T11:01:00Z"}, // lists and ranges
		{[5]string{"0-59/30", "", "", "", ""}, "2030-01-01T11:00:00Z"},     // stepped range
		{[5]string{"", "", "", "3", ""}, "2030-03-01T00:00:00Z"},
	} {
		var args [][]byte
		for _, s := range tc.f {
			args = append(args, []byte(s))
		}
		sc, err := parseSchedule(args)
		if err != nil {
			t.Errorf("%q: %v", tc.f, err)
			continue
		}
		got := time.Unix(sc.next(from), 0).UTC().Format(time.RFC3339)
		if got != tc.want {
			t.Errorf("%q: next = %s; want %s", tc.f, got, tc.want)
		}
	}
	for _, bad := range [][5]string{
		{"60", "", "", "", ""}, {"", "24", "", "", ""}, {"", "", "0", "", ""}, {"", "", "", "13", ""},
		{"", "", "", "", "8"}, {"x", "", "", "", ""}, {"*/0", "", "", "", ""}, {"5-1", "", "", "", ""},
		{"", "", "31", "2", ""}, // never
	} {
		var args [][]byte
		for _, s := range bad {
			args = append(args, []byte(s))
		}
		if _, err := parseSchedule(args); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestUniqueKey(t *testing.T) {
	if uniqueKey(nil, []byte("x")) != "" || uniqueKey([]byte("-"), nil) != "" {
		t.Error("empty unique or '-' with no data must not coalesce")
	}
	if uniqueKey([]byte("-"), []byte("abc")) == uniqueKey([]byte("abc"), nil) {
		t.Error("'-' keys must not collide with real uniques")
	}
}
