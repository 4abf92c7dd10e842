package store

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Job is one visualization job as the list API reported it.
type Job struct {
	JobID      int64
	Name, Desc string
	Status     int       // stored as received, documented or not
	CreateTime time.Time // zero: stored as null
	DurationMS int64
	ServiceURL string
	TrainURL   string
	ResourceID string // empty: stored as null
	Raw        []byte // the item as received, JSON; required
}

// PageResult counts what UpsertPage did to visualization_jobs.
type PageResult struct {
	Inserted  int // jobs seen for the first time
	Updated   int // known jobs whose stored content changed, including jobs back from deletion
	Unchanged int // distinct jobs of the page that needed no change (their last_seen_at may have been refreshed)
}

// Candidate is a live job the run has not seen.
type Candidate struct {
	JobID int64
	Name  string
}

var (
	//go:embed sql/close_changed_versions.sql
	closeChangedVersionsSQL string
	//go:embed sql/upsert_jobs.sql
	upsertJobsSQL string
	//go:embed sql/open_versions.sql
	openVersionsSQL string
	//go:embed sql/mark_deleted.sql
	markDeletedSQL string
	//go:embed sql/deletion_candidates.sql
	deletionCandidatesSQL string
)

const (
	markSeenSQL = `
		INSERT INTO pg_temp.vizjob_seen AS s (job_id, walk) SELECT job_id, $1::integer FROM pg_temp.vizjob_staging
		ON CONFLICT (job_id) DO UPDATE SET walk = excluded.walk WHERE s.walk <> excluded.walk`

	seenCountSQL = `SELECT count(*) FROM pg_temp.vizjob_seen WHERE walk = $1::integer`

	liveCountSQL = `SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL`

	deletionCandidateCountSQL = `
		SELECT count(*)
		FROM modelarts.visualization_jobs AS j
		WHERE j.source = $1 AND j.deleted_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM pg_temp.vizjob_seen AS s WHERE s.job_id = j.job_id AND s.walk = $2::integer)`
)

var stagingTable = pgx.Identifier{"pg_temp", "vizjob_staging"}

var stagingColumns = []string{
	"job_id", "job_name", "job_desc", "status", "create_time", "duration_ms",
	"service_url", "train_url", "resource_id", "raw",
}

// UpsertPage stores one page of jobs observed at observedAt, in one transaction, with a fixed number of
// round trips whatever the page size: COPY into the staging table, then set-based statements that
//
//   - close the open history version of each job whose status, name, description, service URL or
//     train URL changed (valid_to = observedAt);
//   - insert new jobs, and rewrite known ones whose stored content changed (or whose last_seen_at is
//     older than RunOptions.SeenRefresh), clearing deleted_at;
//   - open a version (valid_from = observedAt) for each job with none open: new jobs, changed jobs and
//     jobs back from deletion;
//   - remember the ids as seen by the current walk (see NextWalk).
//
// A job whose content did not change causes no write. A job id that appears more than once in jobs is
// stored once, as its last occurrence. Strings and Raw are made storable first: NUL characters, which
// PostgreSQL text cannot hold, are removed, and Raw is re-encoded if it holds invalid UTF-8 or \u
// escapes that jsonb rejects. A Raw that is not JSON fails the page.
//
// observedAt must not go back in time for a source (a version cannot end before it starts): pass the
// time the page was received.
func (r *Run) UpsertPage(ctx context.Context, jobs []Job, observedAt time.Time) (PageResult, error) {
	conn, err := r.active()
	if err != nil {
		return PageResult{}, err
	}
	rows, err := stagingRows(jobs)
	if err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	if len(rows) == 0 {
		return PageResult{}, nil
	}
	cutoff := observedAt.Add(-r.seenRefresh)

	var res PageResult
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, stagingTable, stagingColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy to staging: %w", err)
		}
		b := &pgx.Batch{}
		b.Queue(closeChangedVersionsSQL, r.source, observedAt)
		b.Queue(upsertJobsSQL, r.source, observedAt, cutoff).QueryRow(func(row pgx.Row) error {
			return row.Scan(&res.Inserted, &res.Updated)
		})
		b.Queue(openVersionsSQL, r.source, observedAt, r.id)
		b.Queue(markSeenSQL, r.walk)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", interpretError(err))
	}
	res.Unchanged = len(rows) - res.Inserted - res.Updated
	return res, nil
}

// stagingRows turns jobs into COPY rows, one per distinct job id (the last occurrence wins), in the
// order of their last occurrence.
func stagingRows(jobs []Job) ([][]any, error) {
	last := make(map[int64]int, len(jobs))
	for i, j := range jobs {
		last[j.JobID] = i
	}
	rows := make([][]any, 0, len(last))
	for i, j := range jobs {
		if last[j.JobID] != i {
			continue
		}
		raw, err := storableJSON(j.Raw)
		if err != nil {
			return nil, fmt.Errorf("job %d: %w", j.JobID, err)
		}
		var createTime *time.Time
		if !j.CreateTime.IsZero() {
			createTime = &j.CreateTime
		}
		var resourceID *string
		if id := storableText(j.ResourceID); id != "" {
			resourceID = &id
		}
		rows = append(rows, []any{
			j.JobID, storableText(j.Name), storableText(j.Desc), int32(j.Status), createTime, j.DurationMS,
			storableText(j.ServiceURL), storableText(j.TrainURL), resourceID, raw,
		})
	}
	return rows, nil
}

// storableText removes NUL characters, which PostgreSQL text cannot hold. Text decoded from JSON is
// otherwise valid UTF-8.
func storableText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// storableJSON returns raw as jsonb can hold it. jsonb rejects invalid UTF-8, the escape \u0000 and
// unpaired surrogate escapes; such a document is decoded and re-encoded (invalid sequences become
// U+FFFD, NULs are removed, numbers keep their text). Any other document is passed through untouched.
func storableJSON(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("raw JSON is empty")
	}
	if !json.Valid(raw) {
		return nil, errors.New("raw is not valid JSON")
	}
	if utf8.Valid(raw) && !bytes.Contains(raw, []byte(`\u`)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("raw JSON: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(withoutNUL(v)); err != nil {
		return nil, fmt.Errorf("raw JSON: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func withoutNUL(v any) any {
	switch v := v.(type) {
	case string:
		return storableText(v)
	case []any:
		for i := range v {
			v[i] = withoutNUL(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[storableText(k)] = withoutNUL(e)
		}
		return out
	default:
		return v
	}
}

// NextWalk starts another walk over every page and returns its number; a run starts in walk 1. The
// seen set, the deletion candidates and MarkDeleted refer to the current walk: a job counts as seen
// only if the current walk upserted it, so a re-walk that is verified complete decides on its own.
func (r *Run) NextWalk() int {
	r.walk++
	return r.walk
}

// SeenCount is the number of distinct jobs the current walk has upserted so far.
func (r *Run) SeenCount(ctx context.Context) (int64, error) {
	conn, err := r.active()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := conn.QueryRow(ctx, seenCountSQL, r.walk).Scan(&n); err != nil {
		return 0, fmt.Errorf("count seen jobs: %w", interpretError(err))
	}
	return n, nil
}

// LiveCount is the number of jobs of the source not marked deleted.
func (r *Run) LiveCount(ctx context.Context) (int64, error) {
	conn, err := r.active()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := conn.QueryRow(ctx, liveCountSQL, r.source).Scan(&n); err != nil {
		return 0, fmt.Errorf("count live jobs: %w", interpretError(err))
	}
	return n, nil
}

// DeletionCandidates returns up to limit live jobs of the source that the current walk has not seen, lowest
// job id first, and how many there are in all. Meaningful after a verified-complete walk only.
func (r *Run) DeletionCandidates(ctx context.Context, limit int) ([]Candidate, int64, error) {
	conn, err := r.active()
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := conn.QueryRow(ctx, deletionCandidateCountSQL, r.source, r.walk).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count deletion candidates: %w", interpretError(err))
	}
	if total == 0 || limit <= 0 {
		return nil, total, nil
	}
	rows, err := conn.Query(ctx, deletionCandidatesSQL, r.source, limit, r.walk)
	if err != nil {
		return nil, 0, fmt.Errorf("list deletion candidates: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Candidate])
	if err != nil {
		return nil, 0, fmt.Errorf("list deletion candidates: %w", interpretError(err))
	}
	return out, total, nil
}

// MarkDeleted marks deleted, at observedAt, those of ids that are live jobs of the source and were not
// seen by the current walk, and closes their open history versions, atomically. It returns how many it marked.
func (r *Run) MarkDeleted(ctx context.Context, observedAt time.Time, ids []int64) (int64, error) {
	conn, err := r.active()
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	if err := conn.QueryRow(ctx, markDeletedSQL, r.source, observedAt, ids, r.walk).Scan(&n); err != nil {
		return 0, fmt.Errorf("mark deleted: %w", interpretError(err))
	}
	return n, nil
}
