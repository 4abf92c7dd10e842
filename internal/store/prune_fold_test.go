package store

import (
	"testing"
	"time"
)

// runCountTotals sums the counts of runs per source and kind over the hourly and the daily rows, for
// the sources LIKE $1.
const runCountTotals = `
	SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
	    SELECT format('%s/%s=%s/%s/%s/%s/%s', source, kind, sum(runs), sum(succeeded), sum(partial), sum(failed), sum(changed)) AS x
	    FROM (SELECT source, kind, runs, succeeded, partial, failed, changed FROM modelarts.sync_run_counts
	          UNION ALL
	          SELECT source, kind, runs, succeeded, partial, failed, changed FROM modelarts.sync_run_daily_counts) AS u
	    WHERE source LIKE $1
	    GROUP BY source, kind) AS t`

// hourlyRows lists the rows of sync_run_counts whose hour is after (or, with older, before) now()
// minus age, with their counts; byDay sums those before it per source, kind and UTC day.
const (
	hourlyRecent = `
		SELECT coalesce(string_agg(format('%s/%s/%s=%s/%s/%s/%s/%s', source, kind, hour, runs, succeeded, partial, failed, changed),
		                           ' ' ORDER BY source, kind, hour), '')
		FROM modelarts.sync_run_counts WHERE hour >= now() - $1::interval`
	hourlyOldByDay = `
		SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
		    SELECT format('%s/%s/%s=%s/%s/%s/%s/%s', source, kind, (hour AT TIME ZONE 'UTC')::date,
		                  sum(runs), sum(succeeded), sum(partial), sum(failed), sum(changed)) AS x
		    FROM modelarts.sync_run_counts WHERE hour < now() - $1::interval
		    GROUP BY source, kind, (hour AT TIME ZONE 'UTC')::date) AS t`
	// runsPerDay is docs/ledger.md's "how many runs a day", over both tables: folding whole UTC days
	// leaves its answer as it was.
	runsPerDay = `
		SELECT coalesce(string_agg(format('%s/%s=%s/%s/%s', source, day, runs, failed, changed), ' ' ORDER BY source, day), '')
		FROM (
		    SELECT source, day, sum(runs) AS runs, sum(failed) AS failed, sum(changed) AS changed
		    FROM (SELECT source, kind, day, runs, failed, changed FROM modelarts.sync_run_daily_counts
		          UNION ALL
		          SELECT source, kind, (hour AT TIME ZONE 'UTC')::date, runs, failed, changed FROM modelarts.sync_run_counts) AS c
		    WHERE kind = 'full'
		    GROUP BY 1, 2) AS t`
	dailyRows = `
		SELECT coalesce(string_agg(format('%s/%s/%s=%s/%s/%s/%s/%s', source, kind, day, runs, succeeded, partial, failed, changed),
		                           ' ' ORDER BY format('%s/%s/%s', source, kind, day)), '')
		FROM modelarts.sync_run_daily_counts`
)

func queryText(t *testing.T, s *Store, sql string, args ...any) string {
	t.Helper()
	var out string
	if err := s.pool.QueryRow(t.Context(), sql, args...).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestPruneLedgerFoldsHourlyRunCounts: past INDEXER_LEDGER_KEEP, pruning folds the hourly counts of
// runs (sync_run_counts) into daily ones (sync_run_daily_counts), in batches: every total per source
// and kind stays exactly what it was, each day gets the sum of its hours, the hours of the retention
// period are left as they were, a second pruning folds nothing, a run that ends after its hour was
// folded is folded by the next pruning, Keep = 0 folds nothing, and forgetting a source deletes its
// daily rows.
func TestPruneLedgerFoldsHourlyRunCounts(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	day := 24 * time.Hour
	keep := LedgerRetention{KeepNoop: 7 * day, Keep: 90 * day, Batch: 3}
	// Nothing is recorded between 89 and 92 days ago, so that where the UTC day of now() minus 90
	// days begins does not matter: older hours are folded, newer ones kept.
	const recent, old = "89 days", "92 days"

	for _, src := range []string{"a", "b"} {
		for i, age := range []time.Duration{300 * day, 200*day + time.Hour, 200*day + 2*time.Hour, 200 * day, 150*day + 5*time.Hour, 93 * day} {
			ledgerRow(t, s, src, KindFull, []string{StateSucceeded, StatePartial, StateFailed}[i%3], age, i%2)
			ledgerRow(t, s, src, KindHead, StateSucceeded, age+time.Minute, 0)
			ledgerRow(t, s, src, KindHead, StateSucceeded, age+2*time.Minute, 1)
		}
		for _, age := range []time.Duration{88 * day, 10 * day, time.Hour} {
			ledgerRow(t, s, src, KindFull, StateSucceeded, age, 1)
			ledgerRow(t, s, src, KindHead, StateFailed, age, 0)
		}
	}
	// A run started 150 days ago whose process died: it is still running when its hour is folded.
	dead := queryInt(t, s, `INSERT INTO modelarts.sync_runs (source, kind, state, started_at)
		VALUES ('a', 'full', 'running', now() - interval '150 days') RETURNING id`)

	totals := queryText(t, s, runCountTotals, "%")
	perDay := queryText(t, s, runsPerDay)
	recentBefore := queryText(t, s, hourlyRecent, recent)
	wantDaily := queryText(t, s, hourlyOldByDay, old)
	oldHours := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_counts WHERE hour < now() - $1::interval`, old)
	if oldHours < 20 || recentBefore == "" {
		t.Fatalf("fixture: %d old hourly rows, recent ones %q", oldHours, recentBefore)
	}

	// Keep = 0 keeps every run that changed something, and every hourly count.
	res, err := s.PruneLedger(ctx, LedgerRetention{KeepNoop: 7 * day})
	if err != nil || res.FoldedHours != 0 || res.FoldedDays != 0 {
		t.Errorf("PruneLedger with Keep 0 = %+v, %v; want nothing folded", res, err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_daily_counts`); n != 0 {
		t.Errorf("PruneLedger with Keep 0 wrote %d daily rows", n)
	}

	res, err = s.PruneLedger(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	if res.FoldedHours != oldHours || res.FoldedDays < 8 || res.Busy {
		t.Errorf("PruneLedger = %+v; want the %d hourly rows older than 92 days folded, in batches of 3", res, oldHours)
	}
	if got := queryText(t, s, runCountTotals, "%"); got != totals {
		t.Errorf("totals per source and kind after folding:\n  %s\nwant, as before:\n  %s", got, totals)
	}
	if got := queryText(t, s, runsPerDay); got != perDay {
		t.Errorf("full runs per day after folding:\n  %s\nwant, as before:\n  %s", got, perDay)
	}
	if got := queryText(t, s, dailyRows); got != wantDaily {
		t.Errorf("daily rows:\n  %s\nwant the sums of the hours folded:\n  %s", got, wantDaily)
	}
	if got := queryText(t, s, hourlyRecent, recent); got != recentBefore {
		t.Errorf("hourly rows of the last 89 days after folding:\n  %s\nwant, as before:\n  %s", got, recentBefore)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_counts WHERE hour < now() - $1::interval`, old); n != 0 {
		t.Errorf("%d hourly rows older than 92 days left", n)
	}

	again, err := s.PruneLedger(ctx, keep)
	if err != nil || again.FoldedHours != 0 || again.FoldedDays != 0 {
		t.Errorf("second PruneLedger = %+v, %v; want nothing folded", again, err)
	}

	// The dead run is closed (as the next run of its source does): its end is counted in its hour,
	// which the next pruning folds into the day that already holds its start.
	if _, err := s.pool.Exec(ctx, `UPDATE modelarts.sync_runs SET state = 'failed', finished_at = now(), error = 'the process died'
		WHERE id = $1`, dead); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_counts WHERE hour < now() - $1::interval`, old); n != 1 {
		t.Fatalf("the end of the dead run wrote %d old hourly rows, want 1", n)
	}
	totals = queryText(t, s, runCountTotals, "%")
	late, err := s.PruneLedger(ctx, keep)
	if err != nil || late.FoldedHours != 1 || late.FoldedDays != 1 {
		t.Errorf("PruneLedger after the dead run ended = %+v, %v; want its hour folded into its day", late, err)
	}
	if n := queryInt(t, s, `SELECT failed FROM modelarts.sync_run_daily_counts
		WHERE source = 'a' AND kind = 'full' AND day = ((now() - interval '150 days') AT TIME ZONE 'UTC')::date`); n != 1 {
		t.Errorf("the dead run's day has %d failed full runs, want 1 (the dead run)", n)
	}
	if got := queryText(t, s, runCountTotals, "%"); got != totals {
		t.Errorf("totals after the dead run ended and was folded:\n  %s\nwant, as before:\n  %s", got, totals)
	}

	totalsB := queryText(t, s, runCountTotals, "b")
	if _, err := s.ForgetSource(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_daily_counts WHERE source = 'a'`); n != 0 {
		t.Errorf("ForgetSource left %d daily rows of source a", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_daily_counts WHERE source = 'b'`); n == 0 {
		t.Error("ForgetSource of source a deleted the daily rows of source b")
	}
	if got := queryText(t, s, runCountTotals, "%"); got != totalsB {
		t.Errorf("totals after forgetting source a: %q, want source b's as before: %q", got, totalsB)
	}
}
