package queue

import (
	"fmt"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestSpreadSchedule(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	every5, err := cron.ParseStandard("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	every1m, err := cron.ParseStandard("@every 1m")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		sched cron.Schedule
		off   time.Duration
		from  string
		want  []string
	}{
		{"cron, offset 90s", every5, 90 * time.Second, "2026-12-07T10:00:00Z",
			[]string{"2026-12-07T10:01:30Z", "2026-12-07T10:06:30Z", "2026-12-07T10:11:30Z"}},
		{"cron, just before a tick", every5, 90 * time.Second, "2026-12-07T10:01:29Z",
			[]string{"2026-12-07T10:01:30Z", "2026-12-07T10:06:30Z"}},
		{"cron, offset 0", every5, 0, "2026-12-07T10:00:00Z", []string{"2026-12-07T10:05:00Z"}},
		{"@every on the epoch's grid, whenever the leader started", every1m, 17 * time.Second, "2026-12-07T10:00:20Z",
			[]string{"2026-12-07T10:01:17Z", "2026-12-07T10:02:17Z", "2026-12-07T10:03:17Z"}},
		{"@every, before the offset", every1m, 17 * time.Second, "2026-12-07T10:00:05Z",
			[]string{"2026-12-07T10:00:17Z", "2026-12-07T10:01:17Z"}},
	} {
		s := spread(c.sched, c.off, time.UTC)
		now := at(c.from)
		for i, w := range c.want {
			next := s.Next(now)
			if !next.Equal(at(w)) {
				t.Errorf("%s: tick %d after %s = %s, want %s", c.name, i+1, now.Format(time.RFC3339), next.Format(time.RFC3339), w)
			}
			now = next
		}
	}
}

// A thousand sources spread over the interval: no second holds more than a few of them, and every
// replica computes the same offset for a source.
func TestOffsetsSpreadSources(t *testing.T) {
	t.Parallel()
	perSecond := map[time.Duration]int{}
	for i := range 1000 {
		name := fmt.Sprintf("s%04d", i+1)
		off := offset(name, 5*time.Minute)
		if off < 0 || off >= 5*time.Minute || off%time.Second != 0 {
			t.Fatalf("offset(%s) = %s: want whole seconds in [0, 5m)", name, off)
		}
		if again := offset(name, 5*time.Minute); again != off {
			t.Fatalf("offset(%s) is not stable: %s then %s", name, off, again)
		}
		perSecond[off]++
	}
	most := 0
	for _, n := range perSecond {
		most = max(most, n)
	}
	// 1000 sources over 300 seconds: 3.3 per second on average; a burst would be hundreds.
	if most > 12 || len(perSecond) < 250 {
		t.Errorf("offsets of 1000 sources: %d distinct seconds of 300, at most %d sources in one", len(perSecond), most)
	}
}
