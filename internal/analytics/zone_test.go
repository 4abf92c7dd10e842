package analytics

import (
	"fmt"
	"time"
)

// zone is a session TimeZone the documented answers are checked in, with the same rules in Go, so that
// the expected answers of day-level questions are computed from the fixture's facts, not by SQL.
type zone struct {
	name   string                          // as SET TimeZone takes it
	offset func(t time.Time) time.Duration // east of UTC at t
}

var utc = zone{name: "UTC", offset: func(time.Time) time.Duration { return 0 }}

// dstZone is a zone one hour east of UTC, two in summer time, whose summer time runs from startDay
// 02:00 local standard time to endDay 03:00 local summer time (both at 01:00 UTC): a POSIX TZ rule with
// Julian days (Jn: day n of the year, February 29 never counted), so that its clock changes fall inside
// the fixture's windows whatever today is. endDay has 25 hours.
func dstZone(startDay, endDay time.Time) zone {
	s, e := julian(startDay), julian(endDay)
	change := func(year, n int) time.Time {
		t := time.Date(year, 1, 1, 1, 0, 0, 0, time.UTC).AddDate(0, 0, n-1)
		if isLeap(year) && n >= 60 {
			t = t.AddDate(0, 0, 1)
		}
		return t
	}
	return zone{
		name: fmt.Sprintf("XST-1XDT,J%d/2,J%d/3", s, e),
		offset: func(t time.Time) time.Duration {
			for y := t.UTC().Year() - 1; y <= t.UTC().Year()+1; y++ {
				from, to := change(y, s), change(y, e)
				if e < s {
					to = change(y+1, e)
				}
				if !t.Before(from) && t.Before(to) {
					return 2 * time.Hour
				}
			}
			return time.Hour
		},
	}
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// julian is t's day of the year as POSIX's Jn counts it (February 29 is not counted).
func julian(t time.Time) int {
	n := t.YearDay()
	if isLeap(t.Year()) && n >= 60 {
		n--
	}
	return n
}

// wall is t on the zone's wall clock (a time in UTC whose fields are the local ones).
func (z zone) wall(t time.Time) time.Time { return t.UTC().Add(z.offset(t)) }

// ts prints t as PostgreSQL prints a timestamptz in the zone.
func (z zone) ts(t time.Time) string {
	off := z.offset(t)
	return z.wall(t).Format("2006-01-02 15:04:05.999999") + fmt.Sprintf("%+03d", int(off/time.Hour))
}

// day is t's local calendar day, as a UTC midnight.
func (z zone) day(t time.Time) time.Time { return z.wall(t).Truncate(24 * time.Hour) }

// date prints t's local day.
func (z zone) date(t time.Time) string { return z.day(t).Format("2006-01-02") }

// midnight is the instant the local day (a UTC midnight, as day returns) starts.
func (z zone) midnight(day time.Time) time.Time {
	t := day.Add(-z.offset(day.Add(-2 * time.Hour)))
	return day.Add(-z.offset(t))
}

// month is t's local month, as a UTC midnight of its first day.
func (z zone) month(t time.Time) time.Time {
	w := z.wall(t)
	return time.Date(w.Year(), w.Month(), 1, 0, 0, 0, 0, time.UTC)
}
