package analytics

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// expected gives, for each documented query, its answer on the fixture (fixture_test.go) in a session
// whose TimeZone is z: worked out by hand from the fixture's comments, or, for the questions by day and
// month, computed from the fixture's jobs in Go. Each case says why.
func expected(c clock, z zone) map[string][][]string {
	d := c.day
	r := func(cells ...string) []string { return cells }
	jobs, _ := fixture(c)

	return map[string][][]string{
		// Live jobs in status 8: 101 and 105 in prod, 201 in lab, 303, 306 and 311 in qa; 13231 ran
		// but was deleted; qa 304 is scaling (15): active, not running.
		"01-running-now": {r("lab", "1"), r("prod", "2"), r("qa", "3")},

		"02-duration-percentiles": durationPercentiles(c, z, jobs),

		// 103 failed yesterday (a status change); 110 was first seen failed but created 2 days ago;
		// 202 failed to submit 6 days ago; qa 301 failed at D-2 10:00, once: its rename at 16:00 and
		// its return after a deletion (D-1 06:00) are the same failure; qa 308 failed at D-3 12:00 and
		// was lost at 18:00: one failure; qa 307 is a new job under a reused id, first seen failed an
		// hour after its creation. Not 104 (first seen failed, created months ago), nor 203 (failed 8
		// days ago), nor 109 (undocumented code, group unknown), nor qa 302 (killed: stopped, not failed).
		"03-failed-last-7-days": {
			r("prod", "103", "bert-large-pretrain", "JOBSTAT_FAILED", z.ts(d(-1, 6)), z.ts(c.month(-1, 5))),
			r("qa", "301", "qa-oom", "JOBSTAT_FAILED", z.ts(d(-2, 10)), z.ts(d(-2, 3))),
			r("prod", "110", "exp-lstm-oom", "JOBSTAT_FAILED", z.ts(d(-2, 2)), z.ts(d(-2, 1))),
			r("qa", "308", "qa-failed-then-lost", "JOBSTAT_FAILED", z.ts(d(-3, 12)), z.ts(d(-3, 1))),
			r("qa", "307", "qa-failed-new", "JOBSTAT_FAILED", z.ts(d(-3, 6)), z.ts(d(-3, 5))),
			r("lab", "202", "lab-unet-seg", "JOBSTAT_SUBMIT_FAILED", z.ts(d(-6, 13)), z.ts(d(-6, 12))),
		},

		// Every version of 13231; the last one ended when the job was deleted.
		"04-job-timeline": {
			r("1", "JOBSTAT_INIT", timelineName, z.ts(d(-4, 8)), z.ts(d(-4, 8, 30)), "00:30:00", "replaced"),
			r("2", "JOBSTAT_WAITING", timelineName, z.ts(d(-4, 8, 30)), z.ts(d(-4, 11)), "02:30:00", "replaced"),
			r("3", "JOBSTAT_RUNNING", timelineName, z.ts(d(-4, 11)), z.ts(d(-3, 10)), "23:00:00", "replaced"),
			r("4", "JOBSTAT_RUNNING", timelineName+"-v2", z.ts(d(-3, 10)), z.ts(d(-3, 16)), "06:00:00", "replaced"),
			r("5", "JOBSTAT_COMPLETED", timelineName+"-v2", z.ts(d(-3, 16)), z.ts(d(-2)), "08:00:00", "deleted"),
		},

		// Seen pending within 24 hours of creation and later running: 13231 (created 08:00, running
		// 11:00: 3h) and 101 (09:00 to 11:00: 2h) in prod, 201 (10:00 to 11:00) in lab. Not 108 and
		// 202 (never ran), nor 111 (seen waiting two months after its creation). In qa: 303 (created
		// 03:45, running 10:00) waited 06:15; 306, the new job under a reused id, 4h (01:00 to 05:00);
		// 309 1h, from its first sighting at 08:00 (its create_time, 08:04, is later) to 09:00. Not 302
		// (never ran), 310 (its only running version has no length), 311 (first seen 24.5 hours after
		// its creation: 25 hours are "a day" in the DST zone), nor 301, 304, 312 (running when first
		// seen). qa: 1h, 4h, 6h15: p95 at 1.9 = 4h + 0.9 * 2h15.
		"05-wait-before-running": {
			r("lab", "1", "01:00:00", "01:00:00", "01:00:00", "01:00:00"),
			r("prod", "2", "02:30:00", "02:30:00", "02:57:00", "03:00:00"), // p95: 2h + 0.95h
			r("qa", "3", "03:45:00", "04:00:00", "06:01:30", "06:15:00"),
		},

		"06-created-per-day": createdPerDay(c, z, jobs),

		// Live jobs by duration; 111 and qa 301 tie at 6 hours and are ordered by source. The limit
		// cuts 104 (3 hours) and the shorter ones.
		"07-longest-running": {
			r("prod", "105", "gpt2-small-sweep", "JOBSTAT_RUNNING", "20 days", "480.000"),
			r("prod", "101", "bert-base-finetune", "JOBSTAT_RUNNING", "2 days", "48.000"),
			r("lab", "113", "t5-base-pretrain", "JOBSTAT_COMPLETED", "1 day 11:29:41.64", "35.495"),
			r("lab", "203", "lab-vit-longrun", "JOBSTAT_FAILED", "1 day 06:00:00", "30.000"),
			r("prod", "103", "bert-large-pretrain", "JOBSTAT_FAILED", "18:00:00", "18.000"),
			r("lab", "201", "lab-bert-eval", "JOBSTAT_RUNNING", "10:00:00", "10.000"),
			r("prod", "111", "old-queue", "JOBSTAT_COMPLETED", "06:00:00", "6.000"),
			r("qa", "301", "qa-oom-v2", "JOBSTAT_FAILED", "06:00:00", "6.000"),
			r("prod", "102", "resnet50-baseline", "JOBSTAT_COMPLETED", "05:00:00", "5.000"),
			r("qa", "304", "qa-scaling", "JOBSTAT_SCALING", "04:00:00", "4.000"),
		},

		// qa 301 (deleted at D-1 00:00, back at 06:00), 13231 (2 days ago) and 106 (10 days ago),
		// newest first; 107 was deleted 45 days ago, the old jobs of qa 306 and 307 14 months ago.
		"08-deleted-last-30-days": {
			r("qa", "301", "qa-oom-v2", "JOBSTAT_FAILED", z.ts(d(-2, 3)), z.ts(d(-1)), z.ts(d(-1, 6))),
			r("prod", "13231", timelineName+"-v2", "JOBSTAT_COMPLETED", z.ts(d(-4, 8)), z.ts(d(-2)), null),
			r("prod", "106", "unet-killed", "JOBSTAT_KILLED", z.ts(c.month(-1, 10)), z.ts(d(-10, 12)), null),
		},

		// Any case, newest first, qa 305 (no create_time) last; not 13231 (deleted).
		"09-search-by-name": {
			r("prod", "108", xssName, "JOBSTAT_INIT", z.ts(d(0))),
			r("lab", "201", "lab-bert-eval", "JOBSTAT_RUNNING", z.ts(d(-1, 10))),
			r("prod", "101", "bert-base-finetune", "JOBSTAT_RUNNING", z.ts(d(-3, 9))),
			r("prod", "103", "bert-large-pretrain", "JOBSTAT_FAILED", z.ts(c.month(-1, 5))),
			r("qa", "305", "qa-bert-no-create-time", "JOBSTAT_COMPLETED", null),
		},

		// edge: running, never succeeded. lab: last success 2 days ago, then a failure 30 minutes
		// ago (its error cut at 60 characters). prod: a failure an hour ago, a success 10 minutes ago.
		// A succeeded run listed every page: the last listing is the last success (the fixture's runs
		// do not say more; store's TestSyncHealthFreshnessOfABusySource has partial runs that listed every page).
		"10-sync-freshness": {
			r("edge", "running", null, null, null, null, null, "0", null, null),
			r("lab", "failed", z.ts(c.N.Add(-48*time.Hour)), "2 days", z.ts(c.N.Add(-48*time.Hour)), "2 days", null, "1",
				z.ts(c.N.Add(-30*time.Minute)), longError[:60]),
			r("prod", "succeeded", z.ts(c.N.Add(-10*time.Minute)), "00:10:00", z.ts(c.N.Add(-10*time.Minute)), "00:10:00", null, "1",
				z.ts(c.N.Add(-time.Hour)), "fetch page 3: ModelArts.0010: internal error"),
			r("qa", "succeeded", z.ts(c.N.Add(-19*time.Minute)), "00:19:00", z.ts(c.N.Add(-19*time.Minute)), "00:19:00", null, "0", null, null),
		},

		"11-running-per-day": runningPerDay(c, z, jobs),
	}
}

// finalStatuses are the fixture's final status codes (job_statuses.is_final).
var finalStatuses = map[int]bool{5: true, 10: true, 11: true, 12: true, 14: true}

// durationPercentiles answers question 02 from the fixture: jobs whose last status is final and that
// ran, by the local month of their creation, over the last 12 months; percentile_cont interpolates (p
// of sorted x at position p*(n-1)), rounded once to 2 decimals. The earlier jobs of reused ids (qa 306
// and 307) were created 14 months ago: outside.
func durationPercentiles(c clock, z zone, jobs []fixtureJob) [][]string {
	first := z.month(c.N).AddDate(0, -11, 0)
	byMonth := map[time.Time][]float64{}
	for _, j := range jobs {
		last := j.versions[len(j.versions)-1]
		if !finalStatuses[last.status] || j.durationMS <= 0 || j.created.IsZero() || z.month(j.created).Before(first) {
			continue
		}
		m := z.month(j.created)
		byMonth[m] = append(byMonth[m], float64(j.durationMS))
	}
	months := slices.SortedFunc(maps.Keys(byMonth), func(a, b time.Time) int { return a.Compare(b) })
	var rows [][]string
	for _, m := range months {
		x := byMonth[m]
		slices.Sort(x)
		p := func(q float64) string {
			pos := q * float64(len(x)-1)
			lo := int(math.Floor(pos))
			v := x[lo]
			if lo+1 < len(x) {
				v += (pos - float64(lo)) * (x[lo+1] - x[lo])
			}
			return fmt.Sprintf("%.2f", math.Round(v/3600000*100)/100)
		}
		rows = append(rows, []string{m.Format("2006-01-02"), strconv.Itoa(len(x)), p(0.50), p(0.95)})
	}
	return rows
}

// createdPerDay answers question 06 from the fixture: jobs (their current row) by local day of
// creation, the last 14 local days, zeros included; qa 305 has no create_time and counts nowhere.
func createdPerDay(c clock, z zone, jobs []fixtureJob) [][]string {
	today := z.day(c.N)
	var rows [][]string
	for i := -13; i <= 0; i++ {
		day := today.AddDate(0, 0, i)
		n := 0
		for _, j := range jobs {
			if !j.created.IsZero() && z.day(j.created).Equal(day) {
				n++
			}
		}
		rows = append(rows, []string{day.Format("2006-01-02"), strconv.Itoa(n)})
	}
	return rows
}

// runningPerDay answers question 11 from the fixture: per local day of the last 7 and source, jobs
// with a running version (of some length) overlapping the day, and running when the day ended (today:
// now). The versions of no length (qa 310) count nowhere.
func runningPerDay(c clock, z zone, jobs []fixtureJob) [][]string {
	today := z.day(c.N)
	var rows [][]string
	for i := -6; i <= 0; i++ {
		day := today.AddDate(0, 0, i)
		start, end := z.midnight(day), z.midnight(day.AddDate(0, 0, 1))
		dayEnd := end
		if c.N.Before(dayEnd) {
			dayEnd = c.N
		}
		during, atEnd := map[string]int{}, map[string]int{}
		for _, j := range jobs {
			var in, last bool
			for _, v := range j.versions {
				to := v.to
				if to.IsZero() {
					to = c.N
				}
				if v.status != 8 || (!v.to.IsZero() && !v.to.After(v.from)) {
					continue
				}
				if v.from.Before(end) && to.After(start) && v.from.Before(c.N) {
					in = true
				}
				if v.from.Before(dayEnd) && (v.to.IsZero() || !v.to.Before(dayEnd)) {
					last = true
				}
			}
			if in {
				during[j.source]++
			}
			if last {
				atEnd[j.source]++
			}
		}
		for _, src := range slices.Sorted(maps.Keys(during)) {
			rows = append(rows, []string{day.Format("2006-01-02"), src, strconv.Itoa(during[src]), strconv.Itoa(atEnd[src])})
		}
	}
	return rows
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestDocumentedQueries runs every documented query, verbatim, on the fixture and checks its answer, in
// UTC and in a zone with summer time whose clocks go back at D-3 01:00 UTC.
func TestDocumentedQueries(t *testing.T) {
	t.Parallel()
	tx, c := fixtureTx(t)
	t.Logf("clock: now %s, day %s, month %s", c.N, c.D, c.M)
	for _, z := range []zone{utc, dstZone(c.day(-10), c.day(-3))} {
		t.Run(z.name, func(t *testing.T) {
			if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = '"+z.name+"'"); err != nil {
				t.Fatal(err)
			}
			checkAnswers(t, tx, expected(c, z))
		})
	}
	if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
}

func checkAnswers(t *testing.T, tx pgx.Tx, want map[string][][]string) {
	t.Helper()

	for _, q := range Queries() {
		w, ok := want[q.Name]
		if !ok {
			t.Errorf("query %s has no expected answer in this test: add one", q.Name)
			continue
		}
		delete(want, q.Name)
		_, got := answer(t, tx, q.SQL)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("query %s (%s):\n got:\n%s want:\n%s", q.Name, q.Question, formatRows(got), formatRows(w))
		} else if testing.Verbose() {
			t.Logf("query %s: %d rows as expected:\n%s", q.Name, len(got), formatRows(got))
		}
	}
	for name := range want {
		t.Errorf("expected answer for %s, but there is no such query", name)
	}
}

// The views themselves, beyond what the documented queries show.
func TestViews(t *testing.T) {
	t.Parallel()
	tx, c := fixtureTx(t)

	t.Run("undocumented status", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT status_name, status_group, is_final, is_deleted FROM modelarts.jobs_current WHERE job_id = 109`)
		if want := [][]string{{"UNDOCUMENTED_99", "unknown", "f", "f"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("status groups", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT status_group, string_agg(code::text, ',' ORDER BY code)
			FROM modelarts.job_status_groups GROUP BY 1 ORDER BY 1`)
		want := [][]string{
			{"completed", "10"}, {"failed", "3,5,6,11,14,16,17,21,22"}, {"pending", "1,2,4,7,18,19,20"},
			{"running", "8"}, {"scaling", "15"}, {"stopped", "12,13"}, {"stopping", "9"}, {"unknown", "0"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("running means one thing", func(t *testing.T) {
		// Running is status 8 and nothing else: in job_statuses, in the status group, in every view
		// and in query 01. qa 304 is scaling (15) and qa 302 was being stopped (9): active, not running.
		// In a savepoint: a missing column must not abort the transaction of the other subtests.
		tx, err := tx.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(context.Background()) }()
		_, got := answer(t, tx, `SELECT string_agg(code::text, ',' ORDER BY code) FILTER (WHERE is_running),
			string_agg(code::text, ',' ORDER BY code) FILTER (WHERE is_active) FROM modelarts.job_statuses`)
		if want := [][]string{{"8", "8,9,15"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("job_statuses running, active: got %v, want %v", got, want)
		}
		_, got = answer(t, tx, `SELECT count(*) FROM modelarts.job_status_groups
			WHERE is_running IS DISTINCT FROM (status_group = 'running')`)
		if want := [][]string{{"0"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("job_status_groups: %v codes where is_running and the group 'running' disagree", got)
		}
		// Per source: the group, the flag, sync_health.running_jobs and the history agree with query 01.
		_, got = answer(t, tx, `
			SELECT j.source,
			       count(*) FILTER (WHERE j.status_group = 'running' AND NOT j.is_deleted),
			       count(*) FILTER (WHERE j.is_running AND NOT j.is_deleted),
			       (SELECT h.running_jobs FROM modelarts.sync_health AS h WHERE h.source = j.source),
			       (SELECT count(*) FROM modelarts.job_status_history AS v
			        WHERE v.source = j.source AND v.is_current AND v.is_running),
			       (SELECT coalesce(sum(d.jobs_at_day_end), 0) FROM modelarts.daily_status_counts AS d
			        WHERE d.source = j.source AND d.day = current_date AND d.is_running)
			FROM modelarts.jobs_current AS j
			GROUP BY j.source ORDER BY j.source`)
		want := [][]string{{"lab", "1", "1", "1", "1", "1"}, {"prod", "2", "2", "2", "2", "2"}, {"qa", "3", "3", "3", "3", "3"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("running per source (group, is_running, sync_health, history, daily counts): got %v, want %v", got, want)
		}
	})
	t.Run("history of a deleted job", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT version_number, previous_status, status_changed, is_current, ended_by, hours_in_version, job_is_deleted
			FROM modelarts.job_status_history WHERE job_id = 106 ORDER BY version_number`)
		want := [][]string{
			{"1", null, "f", "f", "replaced", "24.000", "t"},
			{"2", "8", "t", "f", "deleted", "108.000", "t"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("current version lasts until now", func(t *testing.T) {
		var micros int64
		if err := tx.QueryRow(t.Context(), `SELECT (extract(epoch FROM time_in_version) * 1000000)::bigint
			FROM modelarts.job_status_history WHERE job_id = 105`).Scan(&micros); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Duration(micros)*time.Microsecond, c.N.Sub(c.day(-10)); got != want {
			t.Errorf("time in the open version of 105: %s, want %s", got, want)
		}
	})
	t.Run("daily counts of other statuses", func(t *testing.T) {
		// 102 completed long ago; 111 completed since D-5 12:00; 13231 completed from D-3 16:00
		// until its deletion at midnight: it counts on D-3, at day end too, and not on D-2.
		_, got := answer(t, tx, `SELECT day, jobs, jobs_at_day_end FROM modelarts.daily_status_counts
			WHERE source = 'prod' AND status = 10 AND day >= current_date - 5 ORDER BY day`)
		want := [][]string{
			{date(c.day(-5)), "2", "2"}, {date(c.day(-4)), "2", "2"}, {date(c.day(-3)), "3", "3"},
			{date(c.day(-2)), "2", "2"}, {date(c.day(-1)), "2", "2"}, {date(c.day(0)), "2", "2"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("days follow the session time zone", func(t *testing.T) {
		// 13231 was completed from D-3 16:00 to D-2 00:00 UTC: on D-3 in UTC, on D-2 in Shanghai
		// (00:00 to 08:00), the only day on which three prod jobs were completed.
		const q = `SELECT day FROM modelarts.daily_status_counts WHERE source = 'prod' AND status = 10 AND jobs = 3`
		if _, got := answer(t, tx, q); !reflect.DeepEqual(got, [][]string{{date(c.day(-3))}}) {
			t.Errorf("in UTC: %v, want %s", got, date(c.day(-3)))
		}
		if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = 'Asia/Shanghai'"); err != nil {
			t.Fatal(err)
		}
		_, got := answer(t, tx, q)
		if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = 'UTC'"); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, [][]string{{date(c.day(-2))}}) {
			t.Errorf("in Asia/Shanghai: %v, want %s", got, date(c.day(-2)))
		}
	})
	t.Run("sync health counts", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT source, runs_24h, failed_runs_24h, live_jobs, running_jobs,
			last_run_finished_at IS NULL, freshness_seconds FROM modelarts.sync_health ORDER BY source`)
		want := [][]string{
			{"edge", "1", "0", "0", "0", "t", null},
			{"lab", "1", "1", "4", "1", "f", "172800"},
			{"prod", "3", "1", "9", "2", "f", "600"},
			{"qa", "1", "0", "13", "3", "f", "1140"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("name search can use the trigram index", func(t *testing.T) {
		if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		q := Queries()[slices.IndexFunc(Queries(), func(q Query) bool { return q.Name == "09-search-by-name" })]
		_, plan := answer(t, tx, "EXPLAIN "+q.SQL)
		var text strings.Builder
		for _, row := range plan {
			text.WriteString(row[0] + "\n")
		}
		if !strings.Contains(text.String(), "visualization_jobs_job_name_trgm_idx") {
			t.Errorf("query 09 does not use the trigram index:\n%s", text.String())
		}
		if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = on"); err != nil {
			t.Fatal(err)
		}
	})
}

// modelViews are the views of schema modelarts, in name order: their names are a public contract.
var modelViews = []string{"calendar", "daily_status_counts", "daily_status_group_counts", "data_quality",
	"job_lifecycles", "job_status_groups", "job_status_history", "job_status_spells", "jobs_current",
	"sources", "sync_health"}

// BI tools show the comments: every view and every column of one must have one.
func TestViewsAreCommented(t *testing.T) {
	t.Parallel()
	tx, _ := fixtureTx(t)
	_, views := answer(t, tx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'modelarts' AND c.relkind = 'v' ORDER BY 1`)
	var names []string
	for _, v := range views {
		names = append(names, v[0])
	}
	if want := modelViews; !reflect.DeepEqual(names, want) {
		t.Errorf("views %v, want %v (names are a public contract)", names, want)
	}
	_, missing := answer(t, tx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'modelarts' AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL
		UNION ALL
		SELECT c.relname || '.' || a.attname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = 'modelarts' AND c.relkind = 'v' AND col_description(c.oid, a.attnum) IS NULL
		ORDER BY 1`)
	for _, m := range missing {
		t.Errorf("no COMMENT on modelarts.%s", m[0])
	}
}
