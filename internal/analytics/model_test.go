package analytics

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The model views of migration 00013, on the fixture: each case is a fact of the fixture's comments.
func TestModelViews(t *testing.T) {
	t.Parallel()
	tx, c := fixtureTx(t)
	d := c.day

	t.Run("spells merge renames and split at status changes", func(t *testing.T) {
		// 312: running, scaling, running, completed; 301: running, failed (renamed inside: one spell),
		// deleted, back failed (a spell of its own whose previous group is failed).
		_, got := answer(t, tx, `SELECT job_id, life_number, spell_number, status, previous_status_group, ended_by, versions, hours
			FROM modelarts.job_status_spells WHERE source = 'qa' AND job_id IN (301, 312) AND ended_at IS NOT NULL
			ORDER BY job_id, started_at`)
		want := [][]string{
			{"301", "1", "1", "8", null, "status_change", "1", "6.0000000000000000"},
			{"301", "1", "2", "11", "running", "deleted", "2", "14.0000000000000000"},
			{"312", "1", "1", "8", null, "status_change", "1", "2.0000000000000000"},
			{"312", "1", "2", "15", "running", "status_change", "1", "1.00000000000000000000"},
			{"312", "1", "3", "8", "scaling", "status_change", "1", "2.0000000000000000"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got:\n%s want:\n%s", formatRows(got), formatRows(want))
		}
	})
	t.Run("zero-length versions are no spell", func(t *testing.T) {
		// Waiting, a running version of no length, waiting again: one spell of two versions.
		_, got := answer(t, tx, `SELECT string_agg(status::text, ',' ORDER BY started_at), sum(versions)
			FROM modelarts.job_status_spells WHERE source = 'qa' AND job_id = 310`)
		if want := [][]string{{"7", "2"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("qa 310 spells (status, versions): got %v, want %v", got, want)
		}
	})
	t.Run("a reused id is two jobs", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT job_id, life_number, is_latest_life, job_name, status_name, first_running_at,
			wait_before_running, deleted_at, run_time_ms
			FROM modelarts.job_lifecycles WHERE source = 'qa' AND job_id IN (306, 307) ORDER BY job_id, life_number`)
		want := [][]string{
			{"306", "1", "f", "qa-reused-old", "JOBSTAT_COMPLETED", ts(c.month(-14, 0).Add(3600e9)), null, ts(c.month(-14, 2)), "3600000"},
			{"306", "2", "t", "qa-reused-new", "JOBSTAT_RUNNING", ts(d(-1, 5)), "04:00:00", null, "3600000"},
			{"307", "1", "f", "qa-failed-old", "JOBSTAT_FAILED", null, null, ts(c.month(-14, 1)), "0"},
			{"307", "2", "t", "qa-failed-new", "JOBSTAT_FAILED", null, null, null, "0"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got:\n%s want:\n%s", formatRows(got), formatRows(want))
		}
	})
	t.Run("lifecycles: one row per job, waits never negative", func(t *testing.T) {
		jobs, _ := fixture(c)
		_, got := answer(t, tx, `SELECT count(*) FILTER (WHERE is_latest_life), count(*),
			count(*) FILTER (WHERE wait_before_running < interval '0') FROM modelarts.job_lifecycles`)
		want := [][]string{{strconv.Itoa(len(jobs)), strconv.Itoa(len(jobs) + len(earlierLives(c))), "0"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("latest lives, lives, negative waits: got %v, want %v", got, want)
		}
	})
	t.Run("group counts can be summed", func(t *testing.T) {
		// On D-4, 13231 was initializing then waiting (two pending statuses): daily_status_counts
		// counts it twice when summed over the group, daily_status_group_counts once. prod pending on
		// D-4: 13231 only.
		_, got := answer(t, tx, `SELECT
			(SELECT sum(jobs) FROM modelarts.daily_status_counts
			 WHERE source = 'prod' AND status_group = 'pending' AND day = current_date - 4),
			(SELECT jobs_during_day FROM modelarts.daily_status_group_counts
			 WHERE source = 'prod' AND status_group = 'pending' AND day = current_date - 4),
			(SELECT jobs_entered FROM modelarts.daily_status_group_counts
			 WHERE source = 'prod' AND status_group = 'pending' AND day = current_date - 4)`)
		if want := [][]string{{"2", "1", "1"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("prod pending on D-4 (sum over statuses, distinct jobs, entered): got %v, want %v", got, want)
		}
		// At the end of today, the groups add up to the live jobs of each source.
		_, got = answer(t, tx, `SELECT g.source, sum(g.jobs_at_day_end), min(h.live_jobs)
			FROM modelarts.daily_status_group_counts AS g JOIN modelarts.sync_health AS h USING (source)
			WHERE g.day = current_date GROUP BY g.source ORDER BY g.source`)
		for _, row := range got {
			if row[1] != row[2] {
				t.Errorf("source %s: groups at day end add up to %s, live jobs %s", row[0], row[1], row[2])
			}
		}
		// qa 308 failed then was lost on D-3: it entered group failed once.
		_, got = answer(t, tx, `SELECT jobs_entered FROM modelarts.daily_status_group_counts
			WHERE source = 'qa' AND status_group = 'failed' AND day = current_date - 3`)
		if want := [][]string{{"2"}}; !reflect.DeepEqual(got, want) { // 307 (first seen failed) and 308
			t.Errorf("qa failed entered on D-3: got %v, want %v", got, want)
		}
	})
	t.Run("group counts equal the days expanded", func(t *testing.T) {
		// The counts are running sums of the days spells start and end (status_group_day_facts);
		// expanding every spell into the days it covers must give the same counts, on every day.
		// Each zone twice: computed from the spells (the report time zone is another), then read from
		// status_group_day_facts kept in it (the report time zone set to the session's).
		for _, zc := range []struct {
			z    zone
			kept bool
		}{{utc, false}, {utc, true}, {dstZone(c.day(-10), c.day(-3)), false}, {dstZone(c.day(-10), c.day(-3)), true}} {
			z := zc.z
			if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = '"+z.name+"'"); err != nil {
				t.Fatal(err)
			}
			report := "Etc/GMT-14" // no session here is in it
			if zc.kept {
				report = z.name
			}
			if _, err := tx.Exec(t.Context(), "SELECT modelarts.set_report_time_zone($1)", report); err != nil {
				t.Fatal(err)
			}
			_, got := answer(t, tx, `
			WITH expanded AS (
			    SELECT d.day, s.source, s.status_group,
			           count(DISTINCT (s.job_id, s.life_number)) AS during,
			           count(DISTINCT (s.job_id, s.life_number)) FILTER (
			               WHERE s.started_at < least((d.day + 1)::timestamptz, now())
			                 AND (s.ended_at IS NULL OR s.ended_at >= least((d.day + 1)::timestamptz, now()))) AS at_end
			    FROM modelarts.job_status_spells AS s
			    CROSS JOIN LATERAL (SELECT x::date AS day FROM generate_series(s.started_at::date::timestamp,
			        (coalesce(s.ended_at, now()) - interval '1 microsecond')::date::timestamp, interval '1 day') AS x) AS d
			    GROUP BY 1, 2, 3)
			SELECT count(*), string_agg(concat_ws(' ', day, source, status_group, e.during, g.jobs_during_day, e.at_end, g.jobs_at_day_end), '; ') FILTER (WHERE e.during IS DISTINCT FROM g.jobs_during_day
			                                     OR e.at_end IS DISTINCT FROM g.jobs_at_day_end)
			FROM expanded AS e
			FULL JOIN modelarts.daily_status_group_counts AS g USING (day, source, status_group)`)
			if len(got) != 1 || got[0][0] == "0" || got[0][1] != null {
				t.Errorf("in %s (kept sums: %v): days, and the days whose counts differ from the expansion "+
					"(day source group during expanded, during, at end expanded, at end): %v", z.name, zc.kept, got)
			}
		}
		if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = 'UTC'"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UTC by another name reads the kept sums", func(t *testing.T) {
		// Debian's servers default to Etc/UTC, drivers and BI tools often set UTC: the same zone.
		for _, names := range [][2]string{{"Etc/UTC", "UTC"}, {"UTC", "Etc/UTC"}, {"Etc/UTC", "GMT"}} {
			if _, err := tx.Exec(t.Context(), "SELECT modelarts.set_report_time_zone($1)", names[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = '"+names[1]+"'"); err != nil {
				t.Fatal(err)
			}
			_, plan := answer(t, tx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
				SELECT * FROM modelarts.daily_status_group_counts`)
			var kept, computed bool
			for _, row := range plan {
				kept = kept || strings.Contains(row[0], "Seq Scan on status_group_day_facts") && !strings.Contains(row[0], "never executed")
				computed = computed || strings.Contains(row[0], "spell_facts") && !strings.Contains(row[0], "never executed")
			}
			if !kept || computed {
				t.Errorf("report zone %s, session %s: kept sums read %v, computed from the spells %v; plan:\n%v",
					names[0], names[1], kept, computed, plan)
			}
		}
		if _, err := tx.Exec(t.Context(), "SET LOCAL TimeZone = 'UTC'"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kept facts equal the facts recomputed", func(t *testing.T) {
		// The fixture wrote its history one statement a version: the triggers kept the facts on the
		// way. Then a job's history goes (as forget-source deletes it), and a version is shortened, in a
		// savepoint the other cases do not see.
		tx, err := tx.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(context.Background()) }()
		exec := func(sql string) {
			t.Helper()
			if _, err := tx.Exec(t.Context(), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		drift := func(when string) {
			t.Helper()
			_, got := answer(t, tx, `SELECT facts, rows_differing FROM modelarts_internal.facts_drift() WHERE rows_differing <> 0
				UNION ALL SELECT 'status_group_day_facts rows', count(*) FROM modelarts_internal.status_group_day_facts
				WHERE starts = 0 AND ends = 0 AND ends_last_day = 0 AND entered = 0 AND joined = 0
				HAVING count(*) > 0
				UNION ALL SELECT 'spells', count(*) FROM modelarts_internal.spell_facts HAVING count(*) = 0`)
			if len(got) > 0 {
				t.Errorf("%s: facts that differ from the recomputation, all-zero day rows, or no fact at all: %v", when, got)
			}
		}
		drift("after the fixture")
		exec(`DELETE FROM modelarts.visualization_job_history WHERE source = 'qa' AND job_id = 312`)
		drift("after qa 312's history was deleted")
		_, got := answer(t, tx, `SELECT count(*) FROM modelarts.job_status_spells WHERE source = 'qa' AND job_id = 312`)
		if want := [][]string{{"0"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("spells of a job without history: %v", got)
		}
		exec(`UPDATE modelarts.visualization_job_history SET valid_to = valid_from + interval '1 minute'
			WHERE source = 'qa' AND job_id = 301 AND valid_to IS NOT NULL`)
		exec(`UPDATE modelarts.visualization_job_history SET sync_run_id = NULL WHERE source = 'qa'`)
		drift("after versions were shortened")
		if _, err := tx.Exec(t.Context(), "SELECT modelarts.set_report_time_zone('no/such zone')"); err == nil {
			t.Error("set_report_time_zone took an unknown zone")
		} else if !strings.Contains(err.Error(), "no/such zone") {
			t.Errorf("set_report_time_zone of an unknown zone: %v (the error should name it)", err)
		}
	})
	t.Run("calendar", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT count(*) = current_date - date '2018-01-01' + 1, max(day) = current_date,
			bool_and(day_end - day_start = interval '24 hours') FROM modelarts.calendar`)
		if want := [][]string{{"t", "t", "t"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("calendar (every day to today, 24-hour days in UTC): %v", got)
		}
	})
	t.Run("sources and data quality", func(t *testing.T) {
		_, got := answer(t, tx, `SELECT s.source, s.jobs, s.live_jobs, s.deleted_jobs, s.runs, s.failed_runs,
			q.jobs_without_create_time, q.jobs_created_after_first_seen, q.jobs_in_undocumented_status, q.zero_length_versions
			FROM modelarts.sources AS s JOIN modelarts.data_quality AS q USING (source) ORDER BY s.source`)
		want := [][]string{
			{"edge", "0", "0", "0", "1", "0", "0", "0", "0", "0"},
			{"lab", "4", "4", "0", "2", "1", "0", "0", "0", "0"},
			{"prod", "12", "9", "3", "3", "1", "0", "0", "1", "0"},
			{"qa", "13", "13", "0", "1", "0", "1", "1", "0", "1"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got:\n%s want:\n%s", formatRows(got), formatRows(want))
		}
	})
}
