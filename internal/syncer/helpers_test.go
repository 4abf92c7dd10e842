package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
	"github.com/vizjob/indexer/internal/testdb"
)

// fixture is a migrated database of its own, through the store and through a
// pool for the checks.
type fixture struct {
	st *store.Store
	db *pgxpool.Pool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := testdb.NewMigrated(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &fixture{st: st, db: db}
}

// source is one source of the database: a simulator served over HTTP and the
// real client in front of it.
type source struct {
	name   string
	sim    *simulator.Simulator
	client *fetch.Client
}

// simEndpoint is the endpoint of the clients of these tests: never dialled, simulator.InMemory
// serves it. These tests are about what a sync stores; the HTTP layer underneath is tested over real
// connections in internal/fetch and cmd/indexer (faults that need a connection included). Without
// sockets the property tests take a fifth less CPU.
const simEndpoint = "http://127.0.0.1:1"

// newSource builds a client of auth mode fetch.AuthAKSK or fetch.AuthToken served by sim, with now
// (nil: time.Now) as its clock.
func newSource(name string, sim *simulator.Simulator, auth string) (*source, error) {
	return newSourceAt(name, sim, auth, nil)
}

func newSourceAt(name string, sim *simulator.Simulator, auth string, now func() time.Time) (*source, error) {
	cfg := fetch.Config{Endpoint: simEndpoint, ProjectID: simulator.DefaultProjectID, MaxAttempts: 2,
		BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Now: now,
		HTTPClient: &http.Client{Transport: simulator.InMemory(sim.Handler())}}
	switch auth {
	case fetch.AuthAKSK:
		cfg.AK, cfg.SK = simulator.DefaultAK, simulator.DefaultSK
	case fetch.AuthToken:
		cfg.IAMEndpoint = simEndpoint
		cfg.Username, cfg.Password, cfg.DomainName = simulator.DefaultUsername, simulator.DefaultPassword, simulator.DefaultDomainName
	default:
		return nil, fmt.Errorf("unknown auth %q", auth)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		return nil, err
	}
	return &source{name: name, sim: sim, client: c}, nil
}

func mustSource(t *testing.T, name string, opts simulator.Options, auth string) *source {
	t.Helper()
	s, err := newSource(name, simulator.New(opts), auth)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// options are the sync options of the tests: the configuration's defaults.
func options(name string) syncer.Options {
	return syncer.Options{Source: name, MaxDeleteShare: 0.5, MaxDeleteMin: 10}
}

func (f *fixture) sync(src syncer.API, opts syncer.Options) (syncer.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return syncer.Sync(ctx, src, f.st, opts)
}

// ---- invariants, checked with SQL ----

// model is what a test remembers between syncs of one source: every
// deletion it observed (a gap between two versions of a job must be one).
type model struct {
	deletions map[deletion]bool
}

type deletion struct {
	jobID int64
	at    time.Time
}

func newModel() *model { return &model{deletions: map[deletion]bool{}} }

// check verifies the invariants that hold after every sync, churn or not:
//   - no job is marked deleted while it exists in the source (truth: jobs);
//   - a live job has exactly one open version, matching its current row; a
//     deleted job has none, and its last version ended when it was deleted;
//   - the versions of a job never overlap, follow each other without a gap
//     unless the job was deleted in between, and consecutive versions differ
//     in a tracked attribute (a duration change alone opens none);
//   - a version starts while the run that opened it ran.
//
// With exact, the live mirror must also equal jobs, field by field.
func (m *model) check(ctx context.Context, db *pgxpool.Pool, src string, jobs []fetch.Job, exact bool) error {
	return m.checkAfter(ctx, db, src, jobs, exact, false)
}

// checkAfterHead checks what must hold after a head walk. A head walk marks no deletion and does not
// promise to notice a job that came back after a full walk recorded its deletion (it lists new
// jobs and active statuses only): such a job may stay marked deleted, with the deletion this model
// saw before, until the next full walk.
func (m *model) checkAfterHead(ctx context.Context, db *pgxpool.Pool, src string, jobs []fetch.Job) error {
	return m.checkAfter(ctx, db, src, jobs, false, true)
}

func (m *model) checkAfter(ctx context.Context, db *pgxpool.Pool, src string, jobs []fetch.Job, exact, head bool) error {
	ids := make([]int64, len(jobs))
	raws := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i], raws[i] = j.ID, string(j.Raw)
	}
	var errs []error

	rows, err := db.Query(ctx, `
		SELECT job_id, deleted_at FROM modelarts.visualization_jobs
		WHERE source = $1 AND deleted_at IS NOT NULL AND job_id = ANY ($2::bigint[]) ORDER BY job_id`, src, ids)
	if err != nil {
		return err
	}
	marked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deletion, error) {
		var d deletion
		return d, r.Scan(&d.jobID, &d.at)
	})
	if err != nil {
		return err
	}
	var falselyDeleted []int64
	for _, d := range marked {
		if !(head && m.deletions[d]) {
			falselyDeleted = append(falselyDeleted, d.jobID)
		}
	}
	if len(falselyDeleted) > 0 {
		errs = append(errs, fmt.Errorf("jobs marked deleted while they exist: %v", falselyDeleted))
	}

	if exact {
		bad, err := int64s(ctx, db, `
			WITH truth AS (SELECT * FROM unnest($2::bigint[], $3::jsonb[]) AS t(job_id, raw)),
			live AS (SELECT * FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL)
			SELECT coalesce(l.job_id, t.job_id)
			FROM live AS l FULL JOIN truth AS t USING (job_id)
			WHERE l.job_id IS NULL OR t.job_id IS NULL
			   OR l.raw <> t.raw
			   OR l.job_name <> t.raw->>'job_name' OR l.job_desc <> t.raw->>'job_desc'
			   OR l.status <> (t.raw->>'status')::integer OR l.duration_ms <> (t.raw->>'duration')::bigint
			   OR l.service_url <> t.raw->>'service_url' OR l.train_url <> t.raw->>'train_url'
			   OR l.resource_id IS DISTINCT FROM t.raw->>'resource_id'
			   OR l.remaining_duration_ms IS DISTINCT FROM (CASE WHEN t.raw->>'remaining_duration' ~ '^[0-9]{1,18}$'
			                                                     THEN (t.raw->>'remaining_duration')::bigint END)
			   OR l.create_time <> to_timestamp(0) + ((t.raw->>'create_time')::bigint * interval '1 millisecond')
			ORDER BY 1 LIMIT 20`, src, ids, raws)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Errorf("live mirror differs from the source on jobs %v", bad))
		}
	}

	bad, err := int64s(ctx, db, `
		SELECT j.job_id
		FROM modelarts.visualization_jobs AS j
		LEFT JOIN LATERAL (
			SELECT count(*) AS open,
			       count(*) FILTER (WHERE (h.status, h.job_name, h.job_desc, h.service_url, h.train_url)
			                            = (j.status, j.job_name, j.job_desc, j.service_url, j.train_url)) AS matching
			FROM modelarts.visualization_job_history AS h
			WHERE h.source = j.source AND h.job_id = j.job_id AND h.valid_to IS NULL) AS o ON true
		LEFT JOIN LATERAL (
			SELECT h.valid_to AS last_to FROM modelarts.visualization_job_history AS h
			WHERE h.source = j.source AND h.job_id = j.job_id ORDER BY h.valid_from DESC, h.id DESC LIMIT 1) AS l ON true
		WHERE j.source = $1
		  AND CASE WHEN j.deleted_at IS NULL THEN o.open <> 1 OR o.matching <> 1
		           ELSE o.open <> 0 OR l.last_to IS DISTINCT FROM j.deleted_at END
		ORDER BY 1 LIMIT 20`, src)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		errs = append(errs, fmt.Errorf("open versions do not match the current rows of jobs %v", bad))
	}

	// The BI facts the history's triggers keep (migration 00024) equal the facts recomputed from it.
	drift, err := db.Query(ctx, `SELECT facts || ': ' || rows_differing FROM modelarts_internal.facts_drift($1) WHERE rows_differing <> 0`, src)
	if err != nil {
		return err
	}
	drifted, err := pgx.CollectRows(drift, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(drifted) > 0 {
		errs = append(errs, fmt.Errorf("kept BI facts differ from the history's (rows): %v", drifted))
	}

	rows, err = db.Query(ctx, `
		WITH v AS (
			SELECT h.*, lead(h.valid_from) OVER w AS next_from,
			       lead((h.status, h.job_name, h.job_desc, h.service_url, h.train_url)::text) OVER w AS next_attrs,
			       (h.status, h.job_name, h.job_desc, h.service_url, h.train_url)::text AS attrs
			FROM modelarts.visualization_job_history AS h
			WHERE h.source = $1
			WINDOW w AS (PARTITION BY h.job_id ORDER BY h.valid_from, h.id))
		SELECT v.job_id, v.valid_to, v.next_from,
		       CASE WHEN v.valid_to IS NOT NULL AND v.valid_to < v.valid_from THEN 'ends before it starts'
		            WHEN v.next_from IS NOT NULL AND v.valid_to IS NULL THEN 'open but followed by another version'
		            WHEN v.next_from IS NOT NULL AND v.valid_to > v.next_from THEN 'overlaps the next version'
		            WHEN v.next_from IS NOT NULL AND v.valid_to = v.next_from AND v.attrs = v.next_attrs
		                 THEN 'the next version tracks the same attributes'
		            WHEN NOT EXISTS (SELECT 1 FROM modelarts.sync_runs AS r WHERE r.id = v.sync_run_id
		                             AND v.valid_from BETWEEN r.started_at AND coalesce(r.finished_at, now()))
		                 THEN 'starts outside the run that opened it'
		            WHEN v.next_from IS NOT NULL AND v.valid_to < v.next_from THEN 'gap'
		       END AS problem
		FROM v
		WHERE (v.valid_to IS NOT NULL AND v.valid_to < v.valid_from)
		   OR (v.next_from IS NOT NULL AND (v.valid_to IS NULL OR v.valid_to <> v.next_from OR v.attrs = v.next_attrs))
		   OR NOT EXISTS (SELECT 1 FROM modelarts.sync_runs AS r WHERE r.id = v.sync_run_id
		                  AND v.valid_from BETWEEN r.started_at AND coalesce(r.finished_at, now()))
		ORDER BY 1, 2`, src)
	if err != nil {
		return err
	}
	type problem struct {
		jobID     int64
		to, next  *time.Time
		complaint string
	}
	problems, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (problem, error) {
		var p problem
		return p, r.Scan(&p.jobID, &p.to, &p.next, &p.complaint)
	})
	if err != nil {
		return err
	}
	for _, p := range problems {
		if p.complaint == "gap" && m.deletions[deletion{p.jobID, *p.to}] {
			continue // deleted, then back
		}
		errs = append(errs, fmt.Errorf("history of job %d: %s (valid_to %v, next valid_from %v)", p.jobID, p.complaint, p.to, p.next))
		if len(errs) > 20 {
			break
		}
	}

	var versionless int64
	if err := db.QueryRow(ctx, `
		SELECT count(*) FROM modelarts.visualization_jobs AS j WHERE j.source = $1 AND NOT EXISTS (
			SELECT 1 FROM modelarts.visualization_job_history AS h WHERE h.source = j.source AND h.job_id = j.job_id)`,
		src).Scan(&versionless); err != nil {
		return err
	}
	if versionless > 0 {
		errs = append(errs, fmt.Errorf("%d jobs have no version", versionless))
	}

	// Remember the deletions seen now: a later gap must be one of them.
	rows, err = db.Query(ctx, `SELECT job_id, deleted_at FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NOT NULL`, src)
	if err != nil {
		return err
	}
	dels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deletion, error) {
		var d deletion
		return d, r.Scan(&d.jobID, &d.at)
	})
	if err != nil {
		return err
	}
	for _, d := range dels {
		m.deletions[d] = true
	}
	return errors.Join(errs...)
}

func int64s(ctx context.Context, db *pgxpool.Pool, sql string, args ...any) ([]int64, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// rowVersions identifies the physical version of every job and history row
// of a source: a row rewritten, or even locked, gets a new ctid, xmin or xmax.
func rowVersions(ctx context.Context, db *pgxpool.Pool, src string) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT 'job ' || job_id || ' ' || xmin || ' ' || xmax || ' ' || ctid
		FROM modelarts.visualization_jobs WHERE source = $1
		UNION ALL
		SELECT 'version ' || id || ' ' || xmin || ' ' || xmax || ' ' || ctid
		FROM modelarts.visualization_job_history WHERE source = $1
		ORDER BY 1`, src)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// runRow is a source's latest ledger row.
type runRow struct {
	ID                              int64
	State                           string
	Walks, Pages                    int
	Seen, Inserted, Updated, Delete int64
	Error                           string
}

func lastRun(ctx context.Context, db *pgxpool.Pool, src string) (runRow, error) {
	var r runRow
	err := db.QueryRow(ctx, `
		SELECT id, state, walks, pages, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted, coalesce(error, '')
		FROM modelarts.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`, src).
		Scan(&r.ID, &r.State, &r.Walks, &r.Pages, &r.Seen, &r.Inserted, &r.Updated, &r.Delete, &r.Error)
	return r, err
}

// liveIDs returns the ids of the live jobs of a source.
func liveIDs(ctx context.Context, db *pgxpool.Pool, src string) ([]int64, error) {
	return int64s(ctx, db, `SELECT job_id FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL ORDER BY 1`, src)
}

func jobIDs(jobs []fetch.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	slices.Sort(out)
	return out
}

// jsonOf formats v for a failure message.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return strings.TrimSpace(string(b))
}
