package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/simulator"
)

// run builds one run whose phases took the given seconds.
func run(fetch, floor, initial, noop, change, latency float64, changeWrites Writes, rss int64) RunResult {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	return RunResult{
		Changed: simulator.ChurnStats{StatusChanged: 5, DurationGrown: 5},
		Phases: map[string]Phase{
			PhaseFetch:   {Wall: s(fetch), Requests: 1002},
			PhaseFloor:   {Wall: s(floor), Requests: 1002, Rows: 100_000},
			PhaseInitial: {Wall: s(initial), Requests: 1002, MaxRSS: rss, Writes: Writes{Jobs: TableWrites{Inserted: 1000}, History: TableWrites{Inserted: 1000}}},
			PhaseNoop:    {Wall: s(noop), Requests: 1002, MaxRSS: rss},
			PhaseChange:  {Wall: s(change), Requests: 1002, MaxRSS: rss, Writes: changeWrites},
			PhaseLatency: {Wall: s(latency), Requests: 1002, MaxRSS: rss},
		},
	}
}

func TestTargets(t *testing.T) {
	exact := Writes{Jobs: TableWrites{Updated: 10}, History: TableWrites{Inserted: 5, Updated: 5}}
	opts := Options{Jobs: 100_000, PageConcurrency: 4, Latency: 50 * time.Millisecond, Share: 0.01}.withDefaults()
	// Ideal latency time: 1002 x 50ms / 4 = 12.525s.
	rep := &Report{Options: opts, Runs: []RunResult{
		run(2, 3, 4.4, 2.3, 3, 13, exact, 30<<20),
		run(2, 3, 4.6, 2.5, 3, 14, exact, 31<<20),
		run(2, 3, 9.0, 2.4, 3, 16, exact, 70<<20), // one slow run: medians ignore it, the memory peak does not
	}}
	got := map[string]Target{}
	for _, tg := range rep.Targets() {
		got[strings.Fields(tg.Name)[0]+" "+strings.Fields(tg.Name)[1]] = tg
	}
	want := map[string]struct {
		met      bool
		measured string
	}{
		"initial sync":  {false, "1.53x"}, // median 4.6 / 3 > 1.5
		"no-op resync":  {true, ""},
		"change resync": {true, ""},
		"peak memory":   {false, "70.0 MiB"},
		"with 50ms":     {true, "1.12x"}, // median 14 / 12.525
	}
	for name, w := range want {
		tg, ok := got[name]
		if !ok {
			t.Errorf("no target %q in %v", name, got)
			continue
		}
		if tg.Met != w.met || (w.measured != "" && tg.Measured != w.measured) {
			t.Errorf("%s: %+v, want met=%v measured %q", name, tg, w.met, w.measured)
		}
	}

	// Writes off by one row in any run miss the exactness target; a written row misses the no-op one.
	rep.Runs[1].Phases[PhaseChange] = Phase{Wall: time.Second, Writes: Writes{Jobs: TableWrites{Updated: 11}, History: exact.History}}
	p := rep.Runs[2].Phases[PhaseNoop]
	p.Writes.History.Updated = 1
	rep.Runs[2].Phases[PhaseNoop] = p
	for _, tg := range rep.Targets() {
		if strings.HasPrefix(tg.Name, "change resync") || strings.HasPrefix(tg.Name, "no-op resync writes") {
			if tg.Met {
				t.Errorf("%s met with %s", tg.Name, tg.Measured)
			}
		}
	}

	var out bytes.Buffer
	rep.Format(&out)
	for _, s := range []string{"100000 jobs, 3 run(s)", "INDEXER_RATE_LIMIT=0", "initial sync", "1.53x floor",
		"no-op resync, 50ms latency", "MISSED", "jobs 0/10/0, history 5/5/0; jobs 0/11/0, history 5/5/0", "12.53s"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

func TestOptions(t *testing.T) {
	o := Options{Exe: "indexer", AdminURL: "postgres://x"}.withDefaults()
	if o.Jobs != 100_000 || o.Runs != 3 || o.PageConcurrency != 4 || o.Share != 0.01 || o.validate() != nil {
		t.Errorf("defaults %+v: %v", o, o.validate())
	}
	for _, bad := range []Options{{}, {Exe: "x", AdminURL: "y", Jobs: -1}, {Exe: "x", AdminURL: "y", PageConcurrency: 99}, {Exe: "x", AdminURL: "y", Share: 2}} {
		if bad.withDefaults().validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
