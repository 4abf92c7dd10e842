package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/simulator"
)

// The targets Report.Targets checks: ratios to the floors measured in the same run, the rows a no-op
// resync and a resync after a change write, the peak memory of a sync, and the quota and latency walks.
const (
	MaxInitialVsFloor  = 1.5      // initial sync wall time / floor
	MaxNoopVsFetch     = 1.2      // no-op resync wall time / fetch-only time
	MaxLatencyVsIdeal  = 1.2      // latency resync / (requests x latency / page concurrency)
	MaxPeakRSS         = 64 << 20 // bytes, for a sync of 1 000 000 jobs
	MaxQuotaVsIdeal    = 1.2      // quota walk / (requests answered 200 / quota)
	MaxThrottledShare  = 0.02     // requests answered 429 in the quota walk
	peakRSSTargetScale = 1_000_000
)

// Target is one target of the benchmark and whether the runs met it.
type Target struct {
	Name     string
	Met      bool
	Measured string
}

// phases in report order.
var phases = []string{PhaseFetch, PhaseFloor, PhaseInitial, PhaseNoop, PhaseChange, PhaseLatency, PhaseQuota}

// Targets evaluates the targets over the runs: ratios are the medians of each run's ratio, writes must
// be exact in every run, memory is the peak over every sync of every run.
func (r *Report) Targets() []Target {
	var ts []Target
	if len(r.Runs) == 0 {
		return nil
	}
	if ratio, ok := r.medianRatio(PhaseInitial, func(run RunResult) time.Duration { return run.Phases[PhaseFloor].Wall }); ok {
		ts = append(ts, Target{fmt.Sprintf("initial sync <= %.1fx the floor", MaxInitialVsFloor), ratio <= MaxInitialVsFloor, fmt.Sprintf("%.2fx", ratio)})
	}
	zero, rows := true, []string{}
	for _, run := range r.Runs {
		w := run.Phases[PhaseNoop].Writes
		zero = zero && w.Jobs.Total() == 0 && w.History.Total() == 0
		rows = append(rows, fmt.Sprint(w.Jobs.Total()+w.History.Total()))
	}
	ts = append(ts, Target{"no-op resync writes 0 rows (job and history tables)", zero, strings.Join(slices.Compact(rows), ", ") + " rows"})
	if ratio, ok := r.medianRatio(PhaseNoop, func(run RunResult) time.Duration { return run.Phases[PhaseFetch].Wall }); ok {
		ts = append(ts, Target{fmt.Sprintf("no-op resync <= %.1fx the fetch-only time", MaxNoopVsFetch), ratio <= MaxNoopVsFetch, fmt.Sprintf("%.2fx", ratio)})
	}
	exact := true
	var got []string
	for _, run := range r.Runs {
		want := expectedChange(run.Changed)
		w := run.Phases[PhaseChange].Writes
		exact = exact && w == want
		got = append(got, fmt.Sprintf("jobs %s, history %s", writes(w.Jobs), writes(w.History)))
	}
	ts = append(ts, Target{"change resync writes exactly the changed rows and their versions", exact, strings.Join(slices.Compact(got), "; ")})
	var peak int64
	for _, run := range r.Runs {
		for _, p := range run.Phases {
			peak = max(peak, p.MaxRSS)
		}
	}
	if peak > 0 {
		name := fmt.Sprintf("peak memory of a sync <= %d MiB", MaxPeakRSS>>20)
		if r.Options.Jobs != peakRSSTargetScale {
			name += " (target set for 1 000 000 jobs)"
		}
		ts = append(ts, Target{name, peak <= MaxPeakRSS, mib(peak)})
	}
	if r.Options.Quota > 0 {
		if ratio, ok := r.medianRatio(PhaseQuota, r.quotaIdeal); ok {
			ts = append(ts, Target{fmt.Sprintf("walk against %g requests/s from %g/s, <= %.1fx requests / quota", r.Options.Quota,
				config.DefaultRateLimit, MaxQuotaVsIdeal), ratio <= MaxQuotaVsIdeal, fmt.Sprintf("%.2fx", ratio)})
			var shares []float64
			for _, run := range r.Runs {
				p := run.Phases[PhaseQuota]
				shares = append(shares, float64(p.Throttled)/float64(max(p.Requests, 1)))
			}
			s := median(shares)
			ts = append(ts, Target{fmt.Sprintf("at most %.0f%% of its requests throttled", 100*MaxThrottledShare), s <= MaxThrottledShare, fmt.Sprintf("%.2f%%", 100*s)})
		}
	}
	if r.Options.Latency > 0 {
		if ratio, ok := r.medianRatio(PhaseLatency, r.ideal); ok {
			ts = append(ts, Target{fmt.Sprintf("with %s latency, <= %.1fx requests x latency / page concurrency", r.Options.Latency, MaxLatencyVsIdeal),
				ratio <= MaxLatencyVsIdeal, fmt.Sprintf("%.2fx", ratio)})
		}
	}
	return ts
}

// expectedChange is what a resync must write after the simulator's change: every changed job's row
// rewritten, and for each status change the open version closed (an update) and a new one opened (an
// insert); a duration-only change starts no version.
func expectedChange(c simulator.ChurnStats) Writes {
	s := int64(c.StatusChanged)
	return Writes{
		Jobs:    TableWrites{Updated: s + int64(c.DurationGrown)},
		History: TableWrites{Inserted: s, Updated: s},
	}
}

// ideal is the wall time of the latency phase if only the latency counted: requests x latency / page
// concurrency.
func (r *Report) ideal(run RunResult) time.Duration {
	p := run.Phases[PhaseLatency]
	return time.Duration(p.Requests) * r.Options.Latency / time.Duration(r.Options.PageConcurrency)
}

// quotaIdeal is the wall time of the quota walk if every request but the throttled ones were
// answered at exactly the quota: (requests - throttled) / quota.
func (r *Report) quotaIdeal(run RunResult) time.Duration {
	p := run.Phases[PhaseQuota]
	return time.Duration(float64(p.Requests-p.Throttled) / r.Options.Quota * float64(time.Second))
}

// medianRatio is the median over the runs of the wall time of phase divided by base(run).
func (r *Report) medianRatio(phase string, base func(RunResult) time.Duration) (float64, bool) {
	var ratios []float64
	for _, run := range r.Runs {
		p, ok := run.Phases[phase]
		b := base(run)
		if !ok || b <= 0 {
			return 0, false
		}
		ratios = append(ratios, p.Wall.Seconds()/b.Seconds())
	}
	return median(ratios), true
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Format writes the report: the settings, a table of medians, the targets, and every run's times.
func (r *Report) Format(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "indexer bench: %d jobs, %d run(s), medians shown; pages of 100, %d requested at a time (INDEXER_PAGE_CONCURRENCY)\n",
		o.Jobs, len(r.Runs), o.PageConcurrency)
	fmt.Fprintf(w, "%s; %d CPUs; %s\n", r.Server, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "client rate limit off (INDEXER_RATE_LIMIT=0); simulator and syncs run as child processes;")
	fmt.Fprintln(w, "between phases: VACUUM (ANALYZE) of the job tables and CHECKPOINT, not timed")
	if len(r.Runs) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\twall\tjobs/s\tratio\trequests\tjob rows i/u/d\thistory rows i/u/d\tpeak RSS\t")
	for _, name := range phases {
		if _, ok := r.Runs[0].Phases[name]; !ok || name == PhaseQuota {
			continue
		}
		var walls []float64
		for _, run := range r.Runs {
			walls = append(walls, run.Phases[name].Wall.Seconds())
		}
		wall := median(walls)
		p := r.Runs[0].Phases[name]
		ratio, jobRows, historyRows, rss := "", "", "", ""
		switch name {
		case PhaseFetch:
			ratio = "1.00 fetch"
		case PhaseFloor:
			ratio = "1.00 floor"
			jobRows = fmt.Sprintf("(%d copied)", p.Rows)
		case PhaseInitial:
			ratio = r.ratioText(name, PhaseFloor, "floor")
		case PhaseNoop, PhaseChange:
			ratio = r.ratioText(name, PhaseFetch, "fetch")
		case PhaseLatency:
			if x, ok := r.medianRatio(name, r.ideal); ok {
				ratio = fmt.Sprintf("%.2fx ideal", x)
			}
		}
		if name != PhaseFetch && name != PhaseFloor {
			jobRows = r.writesText(name, func(w Writes) TableWrites { return w.Jobs })
			historyRows = r.writesText(name, func(w Writes) TableWrites { return w.History })
			var peak int64
			for _, run := range r.Runs {
				peak = max(peak, run.Phases[name].MaxRSS)
			}
			rss = mib(peak)
		}
		label := name
		switch name {
		case PhaseChange:
			label = fmt.Sprintf("resync, %g%% changed", 100*o.Share)
		case PhaseLatency:
			label = fmt.Sprintf("no-op resync, %s latency", o.Latency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%d\t%s\t%s\t%s\t\n", label, seconds(time.Duration(wall*float64(time.Second))),
			float64(o.Jobs)/wall, ratio, p.Requests, jobRows, historyRows, rss)
	}
	_ = tw.Flush()

	c := r.Runs[0].Changed
	fmt.Fprintf(w, "\n%g%% changed: %d jobs moved to another status (a history version closed and one opened each), %d grew their duration only (no version)\n",
		100*o.Share, c.StatusChanged, c.DurationGrown)
	if o.Latency > 0 {
		fmt.Fprintf(w, "latency ideal: %d requests x %s / %d at a time = %s\n", r.Runs[0].Phases[PhaseLatency].Requests, o.Latency,
			o.PageConcurrency, seconds(r.ideal(r.Runs[0])))
	}

	r.formatWritePath(w)
	if _, ok := r.Runs[0].Phases[PhaseQuota]; ok {
		var walls, ideals, rates, throttled []float64
		for _, run := range r.Runs {
			p := run.Phases[PhaseQuota]
			walls = append(walls, p.Wall.Seconds())
			ideals = append(ideals, r.quotaIdeal(run).Seconds())
			rates = append(rates, p.Rate)
			throttled = append(throttled, float64(p.Throttled))
		}
		p := r.Runs[0].Phases[PhaseQuota]
		fmt.Fprintf(w, "\nquota: a walk of %d jobs against %g requests/s per credential, from %g/s (INDEXER_RATE_LIMIT) up to %g/s (INDEXER_MAX_RATE_LIMIT):\n"+
			"  %d requests, wall %s, ideal %s (requests answered / quota): %.2fx; %.0f throttled (%.2f%%); settled at %.1f requests/s\n",
			o.QuotaJobs, o.Quota, config.DefaultRateLimit, config.DefaultMaxRateLimit, p.Requests, seconds(time.Duration(median(walls)*float64(time.Second))),
			seconds(time.Duration(median(ideals)*float64(time.Second))), median(walls)/median(ideals), median(throttled),
			100*median(throttled)/float64(max(p.Requests, 1)), median(rates))
	}

	fmt.Fprintln(w, "\ntargets")
	for _, t := range r.Targets() {
		verdict := "met   "
		if !t.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  %s  %-68s %s\n", verdict, t.Name, t.Measured)
	}

	fmt.Fprintln(w, "\nevery run (wall time, seconds)")
	for _, name := range phases {
		if _, ok := r.Runs[0].Phases[name]; !ok {
			continue
		}
		var xs []string
		for _, run := range r.Runs {
			xs = append(xs, fmt.Sprintf("%.2f", run.Phases[name].Wall.Seconds()))
		}
		fmt.Fprintf(w, "  %-24s %s\n", name, strings.Join(xs, "  "))
	}
	if o.Keep {
		var dbs []string
		for _, run := range r.Runs {
			dbs = append(dbs, run.Database)
		}
		fmt.Fprintf(w, "kept databases: %s\n", strings.Join(dbs, ", "))
	}
}

// ratioText is the median ratio of phase to base, e.g. "2.24x fetch".
func (r *Report) ratioText(phase, base, label string) string {
	x, ok := r.medianRatio(phase, func(run RunResult) time.Duration { return run.Phases[base].Wall })
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.2fx %s", x, label)
}

// writesText shows the writes of a phase: the same in every run, or each run's.
func (r *Report) writesText(phase string, table func(Writes) TableWrites) string {
	var xs []string
	for _, run := range r.Runs {
		xs = append(xs, writes(table(run.Phases[phase].Writes)))
	}
	return strings.Join(slices.Compact(xs), " | ")
}

func writes(w TableWrites) string {
	return fmt.Sprintf("%d/%d/%d", w.Inserted, w.Updated, w.Deleted)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// formatWritePath writes where each sync's write path spent its time (medians, seconds), next to the
// floor's COPY (floor minus fetch only) and the rest of the sync's wall time.
func (r *Report) formatWritePath(w io.Writer) {
	if _, ok := r.Runs[0].Phases[PhaseInitial]; !ok || r.Runs[0].Phases[PhaseInitial].WritePath == nil {
		return
	}
	med := func(f func(RunResult) float64) float64 {
		var xs []float64
		for _, run := range r.Runs {
			xs = append(xs, f(run))
		}
		return median(xs)
	}
	fmt.Fprintln(w, "\nwrite path, seconds on the sync's critical path (medians; the rest is fetching, decoding, deletion checks)")
	fmt.Fprintf(w, "  floor's COPY (floor - fetch only): %.2fs\n", med(func(run RunResult) float64 {
		return (run.Phases[PhaseFloor].Wall - run.Phases[PhaseFetch].Wall).Seconds()
	}))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  phase\tbatches\tseen set\tlookup\tprepare\tCOPY\twrite\tstore total\trest\twall\t")
	for _, name := range []string{PhaseInitial, PhaseNoop, PhaseChange, PhaseLatency} {
		if _, ok := r.Runs[0].Phases[name]; !ok {
			continue
		}
		step := func(f func(*WritePath) int64) float64 {
			return med(func(run RunResult) float64 {
				if wp := run.Phases[name].WritePath; wp != nil {
					return float64(f(wp)) / 1000
				}
				return 0
			})
		}
		total := func(wp *WritePath) int64 { return wp.SeenMS + wp.Lookup + wp.Prepare + wp.Copy + wp.Write }
		wall := med(func(run RunResult) float64 { return run.Phases[name].Wall.Seconds() })
		st := step(total)
		batches := 0
		if wp := r.Runs[0].Phases[name].WritePath; wp != nil {
			batches = wp.Batches
		}
		fmt.Fprintf(tw, "  %s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, batches,
			step(func(wp *WritePath) int64 { return wp.SeenMS }), step(func(wp *WritePath) int64 { return wp.Lookup }),
			step(func(wp *WritePath) int64 { return wp.Prepare }), step(func(wp *WritePath) int64 { return wp.Copy }),
			step(func(wp *WritePath) int64 { return wp.Write }), st, wall-st, wall)
	}
	_ = tw.Flush()
}
