package analytics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// The fixture: a small history whose answers are worked out by hand in queries_test.go.
//
// The documented queries read the clock (now(), current_date), so the fixture is written relative to
// it, in the same transaction as the queries: now() is the transaction's start, the same instant for
// every statement, which pins every answer. Times are placed relative to
//
//	N  now()
//	D  midnight (UTC) starting today
//	M  midnight (UTC) starting this month
//
// and kept away from the edges of every window a query uses (7 days, 14 days, 30 days, 12 months),
// so that the answers hold at any time of day and on any day of the month. Most job timestamps are
// D-relative, so that day-level answers do not depend on the time of day; the ledger is N-relative, so
// that freshness is exact.

type clock struct{ N, D, M time.Time }

// day is D plus days and a time of day.
func (c clock) day(days int, hhmm ...int) time.Time {
	t := c.D.AddDate(0, 0, days)
	if len(hhmm) > 0 {
		t = t.Add(time.Duration(hhmm[0]) * time.Hour)
	}
	if len(hhmm) > 1 {
		t = t.Add(time.Duration(hhmm[1]) * time.Minute)
	}
	return t
}

// month is M plus months and days.
func (c clock) month(months, days int) time.Time { return c.M.AddDate(0, months, days) }

// version of a job; a zero to is the open version.
type version struct {
	status   int
	name     string
	from, to time.Time
}

type fixtureJob struct {
	source     string
	id         int64
	created    time.Time // zero: no create_time (null)
	durationMS int64
	deleted    time.Time // zero: live
	versions   []version // in time order; the job's row takes the last one's status and name
}

type fixtureRun struct {
	source            string
	state             string
	started, finished time.Time // finished zero: running
	err               string
}

// Job names of the fixture.
const (
	timelineName = "nightly-bert"
	xssName      = `BERT-tiny "smoke" <test>`
	longError    = "list jobs: http 429 APIG.0308: throttled by the gateway, retry after 30s; gave up after 5 attempts"
)

// timelineJobID is the job query 04 follows: the fixture's job with the most versions.
const timelineJobID = 13231

func fixture(c clock) ([]fixtureJob, []fixtureRun) {
	n, d := c.N, c.day
	jobs := []fixtureJob{
		// A job the timeline query follows: created, waiting, running, renamed, completed, deleted.
		{"prod", timelineJobID, d(-4, 8), 108_000_000, d(-2), []version{
			{1, timelineName, d(-4, 8), d(-4, 8, 30)},
			{7, timelineName, d(-4, 8, 30), d(-4, 11)},
			{8, timelineName, d(-4, 11), d(-3, 10)},
			{8, timelineName + "-v2", d(-3, 10), d(-3, 16)},
			{10, timelineName + "-v2", d(-3, 16), d(-2)},
		}},
		{"prod", 101, d(-3, 9), 172_800_000, time.Time{}, []version{
			{7, "bert-base-finetune", d(-3, 9, 30), d(-3, 11)},
			{8, "bert-base-finetune", d(-3, 11), time.Time{}},
		}},
		{"prod", 102, c.month(-1, 2), 18_000_000, time.Time{}, []version{
			{8, "resnet50-baseline", c.month(-1, 2).Add(time.Hour), c.month(-1, 2).Add(6 * time.Hour)},
			{10, "resnet50-baseline", c.month(-1, 2).Add(6 * time.Hour), time.Time{}},
		}},
		// First seen running two days ago (created a month before), failed yesterday.
		{"prod", 103, c.month(-1, 5), 64_800_000, time.Time{}, []version{
			{8, "bert-large-pretrain", d(-2, 12), d(-1, 6)},
			{11, "bert-large-pretrain", d(-1, 6), time.Time{}},
		}},
		// Already failed when first seen, and created long ago: when it failed is unknown.
		{"prod", 104, c.month(-2, 5), 10_800_000, time.Time{}, []version{
			{11, "yolov5s-legacy", d(-5), time.Time{}},
		}},
		{"prod", 105, d(-20), 1_728_000_000, time.Time{}, []version{
			{8, "gpt2-small-sweep", d(-10), time.Time{}},
		}},
		{"prod", 106, c.month(-1, 10), 3_600_000, d(-10, 12), []version{
			{8, "unet-killed", d(-15), d(-14)},
			{12, "unet-killed", d(-14), d(-10, 12)},
		}},
		{"prod", 107, c.month(-3, 0), 7_200_000, d(-45), []version{
			{10, "ancient-deleted", d(-60), d(-45)},
		}},
		{"prod", 108, d(0), 0, time.Time{}, []version{
			{1, xssName, d(0), time.Time{}},
		}},
		{"prod", 109, d(-1, 2), 0, time.Time{}, []version{
			{99, "mystery-job", d(-1, 2), time.Time{}},
		}},
		// Failed when first seen, but created two days ago: a recent failure.
		{"prod", 110, d(-2, 1), 600_000, time.Time{}, []version{
			{11, "exp-lstm-oom", d(-2, 2), time.Time{}},
		}},
		// Seen waiting, but created two months before: its wait is not known.
		{"prod", 111, c.month(-2, 10), 21_600_000, time.Time{}, []version{
			{7, "old-queue", d(-5), d(-5, 6)},
			{8, "old-queue", d(-5, 6), d(-5, 12)},
			{10, "old-queue", d(-5, 12), time.Time{}},
		}},
		// Alone in its month, completed after 35.4949 hours: the median is 35.49, not 35.50 (the run
		// time rounded to 3 decimals, 35.495, then to 2).
		{"lab", 113, c.month(-4, 3), 127_781_640, time.Time{}, []version{
			{8, "t5-base-pretrain", c.month(-4, 3).Add(time.Hour), c.month(-4, 5)},
			{10, "t5-base-pretrain", c.month(-4, 5), time.Time{}},
		}},
		{"lab", 201, d(-1, 10), 36_000_000, time.Time{}, []version{
			{1, "lab-bert-eval", d(-1, 10), d(-1, 10, 30)},
			{7, "lab-bert-eval", d(-1, 10, 30), d(-1, 11)},
			{8, "lab-bert-eval", d(-1, 11), time.Time{}},
		}},
		{"lab", 202, d(-6, 12), 0, time.Time{}, []version{
			{4, "lab-unet-seg", d(-6, 12), d(-6, 13)},
			{5, "lab-unet-seg", d(-6, 13), time.Time{}},
		}},
		// Failed 8 days ago: outside the 7-day window.
		{"lab", 203, c.month(-2, 20), 108_000_000, time.Time{}, []version{
			{8, "lab-vit-longrun", d(-30), d(-8, 12)},
			{11, "lab-vit-longrun", d(-8, 12), time.Time{}},
		}},

		// Source qa: the awkward cases, each with the wrong answer a naive query gives.
		//
		// Failed, then renamed while still failed, then deleted and back (still failed): one failure
		// (D-2 10:00), not three.
		{"qa", 301, d(-2, 3), 21_600_000, time.Time{}, []version{
			{8, "qa-oom", d(-2, 4), d(-2, 10)},
			{11, "qa-oom", d(-2, 10), d(-2, 16)},
			{11, "qa-oom-v2", d(-2, 16), d(-1)},
			{11, "qa-oom-v2", d(-1, 6), time.Time{}},
		}},
		// B: waited, was being stopped (9), then killed: it never ran, so it has no wait before running.
		{"qa", 302, d(-2, 3, 30), 0, time.Time{}, []version{
			{7, "qa-stopped-while-waiting", d(-2, 4), d(-2, 10)},
			{9, "qa-stopped-while-waiting", d(-2, 10), d(-2, 16)},
			{12, "qa-stopped-while-waiting", d(-2, 16), time.Time{}},
		}},
		// C: waited from 04:00, running from 10:00: waited 06:15 from its creation at 03:45.
		{"qa", 303, d(-2, 3, 45), 7_200_000, time.Time{}, []version{
			{7, "qa-waited", d(-2, 4), d(-2, 10)},
			{8, "qa-waited", d(-2, 10), time.Time{}},
		}},
		// Scaling (15) now: not running, though it is active.
		{"qa", 304, d(-1, 8), 14_400_000, time.Time{}, []version{
			{8, "qa-scaling", d(-1, 9), d(-1, 12)},
			{15, "qa-scaling", d(-1, 12), time.Time{}},
		}},
		// No create_time (the API sent none): null, and last when sorting by it.
		{"qa", 305, time.Time{}, 1_800_000, time.Time{}, []version{
			{10, "qa-bert-no-create-time", d(-1, 6), time.Time{}},
		}},
		// An id the service reused (earlierLives): a job of 14 months ago ran and was deleted; the new
		// job, created D-1 01:00, waited from 02:00 and runs from 05:00: a wait of 4 hours, not of
		// minus 14 months.
		{"qa", 306, d(-1, 1), 3_600_000, time.Time{}, []version{
			{8, "qa-reused-old", c.month(-14, 0).Add(time.Hour), c.month(-14, 1)},
			{10, "qa-reused-old", c.month(-14, 1), c.month(-14, 2)},
			{7, "qa-reused-new", d(-1, 2), d(-1, 5)},
			{8, "qa-reused-new", d(-1, 5), time.Time{}},
		}},
		// Reused too: the old job failed and was deleted; the new one, created D-3 05:00, is first seen
		// failed at 06:00, the same status as the old job's last: a failure of its own.
		{"qa", 307, d(-3, 5), 0, time.Time{}, []version{
			{11, "qa-failed-old", c.month(-14, 0).Add(2 * time.Hour), c.month(-14, 1)},
			{11, "qa-failed-new", d(-3, 6), time.Time{}},
		}},
		// Failed, then lost: one failure (D-3 12:00), not two.
		{"qa", 308, d(-3, 1), 7_200_000, time.Time{}, []version{
			{8, "qa-failed-then-lost", d(-3, 2), d(-3, 12)},
			{11, "qa-failed-then-lost", d(-3, 12), d(-3, 18)},
			{14, "qa-failed-then-lost", d(-3, 18), time.Time{}},
		}},
		// create_time 4 minutes after the sync that first saw it waiting (clocks disagree): it waited
		// from 08:00 to 09:00, an hour, not 56 minutes; then ran until 20:00 and completed.
		{"qa", 309, d(-2, 8, 4), 3_600_000, time.Time{}, []version{
			{7, "qa-late-create-time", d(-2, 8), d(-2, 9)},
			{8, "qa-late-create-time", d(-2, 9), d(-2, 20)},
			{10, "qa-late-create-time", d(-2, 20), time.Time{}},
		}},
		// A zero-length running version (the clock stepped back): it never ran.
		{"qa", 310, d(-4, 1), 0, time.Time{}, []version{
			{7, "qa-zero-length", d(-4, 2), d(-4, 14)},
			{8, "qa-zero-length", d(-4, 14), d(-4, 14)},
			{7, "qa-zero-length", d(-4, 14), time.Time{}},
		}},
		// First seen waiting 24.5 hours after its creation: too late to know its wait, in every time
		// zone (in the test's DST zone, D-4 01:00 plus "1 day" is 25 hours: the clocks go back at
		// D-3 01:00 UTC). Running since D-3 04:00.
		{"qa", 311, d(-4, 1), 3_600_000, time.Time{}, []version{
			{7, "qa-seen-late", d(-3, 1, 30), d(-3, 4)},
			{8, "qa-seen-late", d(-3, 4), time.Time{}},
		}},
		// Created and run late in the evening (UTC): on D-2 in UTC, on D-1 in the test's DST zone (an
		// hour ahead then), for the questions by day.
		{"qa", 313, d(-2, 23, 10), 1_800_000, time.Time{}, []version{
			{8, "qa-late-evening", d(-2, 23, 20), d(-2, 23, 50)},
			{10, "qa-late-evening", d(-2, 23, 50), time.Time{}},
		}},
		// Running, scaling, running again, completed: four spells, one job that ran.
		{"qa", 312, d(-5), 9_000_000, time.Time{}, []version{
			{8, "qa-back-and-forth", d(-5, 1), d(-5, 3)},
			{15, "qa-back-and-forth", d(-5, 3), d(-5, 4)},
			{8, "qa-back-and-forth", d(-5, 4), d(-5, 6)},
			{10, "qa-back-and-forth", d(-5, 6), time.Time{}},
		}},
	}
	runs := []fixtureRun{
		{"prod", "succeeded", n.Add(-3*time.Hour - 2*time.Minute), n.Add(-3 * time.Hour), ""},
		{"prod", "failed", n.Add(-61 * time.Minute), n.Add(-time.Hour), "fetch page 3: ModelArts.0010: internal error"},
		{"prod", "succeeded", n.Add(-11 * time.Minute), n.Add(-10 * time.Minute), ""},
		{"lab", "succeeded", n.Add(-48*time.Hour - time.Minute), n.Add(-48 * time.Hour), ""},
		{"lab", "failed", n.Add(-31 * time.Minute), n.Add(-30 * time.Minute), longError},
		{"edge", "running", n.Add(-time.Minute), time.Time{}, ""},
		{"qa", "succeeded", n.Add(-20 * time.Minute), n.Add(-19 * time.Minute), ""},
	}
	return jobs, runs
}

// earlierLife is the start of a job's history that belongs to another job with the same id: its first
// versions versions carry create_time created (the service reused the id after a deletion).
type earlierLife struct {
	versions int
	created  time.Time
}

func earlierLives(c clock) map[int64]earlierLife {
	return map[int64]earlierLife{
		306: {2, c.month(-14, 0)},
		307: {1, c.month(-14, 0)},
	}
}

// fixtureTx opens a transaction on a fresh, migrated database, with TimeZone UTC, loads the fixture
// into it and returns it with its clock. The transaction is rolled back at the end of the test.
func fixtureTx(t *testing.T) (pgx.Tx, clock) {
	t.Helper()
	ctx := t.Context()
	url := testdb.NewMigrated(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	var c clock
	if err := tx.QueryRow(ctx, "SELECT now(), date_trunc('day', now()), date_trunc('month', now())").Scan(&c.N, &c.D, &c.M); err != nil {
		t.Fatal(err)
	}
	c.N, c.D, c.M = c.N.UTC(), c.D.UTC(), c.M.UTC()

	jobs, runs := fixture(c)
	earlier := earlierLives(c)
	for _, j := range jobs {
		last := j.versions[len(j.versions)-1]
		var deleted, created *time.Time
		if !j.created.IsZero() {
			created = &j.created
		}
		lastSeen := last.from
		if !j.deleted.IsZero() {
			deleted, lastSeen = &j.deleted, j.deleted
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO modelarts.visualization_jobs
			    (source, job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url,
			     raw, first_seen_at, last_seen_at, last_changed_at, deleted_at)
			VALUES ($1, $2, $3, '', $4, $5, $6, '', '/bucket/', '{}', $7, $8, $8, $9)`,
			j.source, j.id, last.name, last.status, created, j.durationMS, j.versions[0].from,
			lastSeen, deleted)
		if err != nil {
			t.Fatalf("job %d: %v", j.id, err)
		}
		for i, v := range j.versions {
			var to *time.Time
			if !v.to.IsZero() {
				to = &v.to
			}
			vcreated := created
			if e, ok := earlier[j.id]; ok && i < e.versions {
				vcreated = &e.created
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO modelarts.visualization_job_history
				    (source, job_id, status, job_name, job_desc, service_url, train_url, duration_ms, valid_from, valid_to,
				     create_time)
				VALUES ($1, $2, $3, $4, '', '', '/bucket/', $5, $6, $7, $8)`,
				j.source, j.id, v.status, v.name, j.durationMS, v.from, to, vcreated)
			if err != nil {
				t.Fatalf("job %d version %v: %v", j.id, v, err)
			}
		}
	}
	for _, r := range runs {
		var finished *time.Time
		if !r.finished.IsZero() {
			finished = &r.finished
		}
		var errText *string
		if r.err != "" {
			errText = &r.err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO modelarts.sync_runs (source, state, started_at, finished_at, error)
			VALUES ($1, $2, $3, $4, $5)`, r.source, r.state, r.started, finished, errText)
		if err != nil {
			t.Fatalf("run %v: %v", r, err)
		}
	}
	return tx, c
}

// null is how answer cells print a SQL NULL.
const null = "NULL"

// answer runs sql in tx as the README shows it (text output) and returns its rows.
func answer(t *testing.T, tx pgx.Tx, sql string) (columns []string, rows [][]string) {
	t.Helper()
	res, err := tx.Query(t.Context(), sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s\n%v", sql, err)
	}
	defer res.Close()
	for _, f := range res.FieldDescriptions() {
		columns = append(columns, f.Name)
	}
	for res.Next() {
		var row []string
		for _, v := range res.RawValues() {
			if v == nil {
				row = append(row, null)
			} else {
				row = append(row, string(v))
			}
		}
		rows = append(rows, row)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("%s\n%v", sql, err)
	}
	return columns, rows
}

// ts prints a time as PostgreSQL prints a timestamptz in UTC.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00" }

// date prints a time's UTC day as PostgreSQL prints a date.
func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

func formatRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s\n", strings.Join(r, " | "))
	}
	return b.String()
}
