package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
	// RemainingDurationMS: milliseconds until the service stops the job; nil: stored as null.
	RemainingDurationMS *int64
}

// PageResult counts what UpsertPage did to visualization_jobs.
type PageResult struct {
	Inserted  int // jobs seen for the first time
	Updated   int // known jobs whose stored content changed, including jobs back from deletion
	Unchanged int // distinct jobs of the page that needed no change (their last_seen_at may have been refreshed)
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
	//go:embed sql/stored_fingerprints.sql
	storedFingerprintsSQL string
	//go:embed sql/insert_new_jobs.sql
	insertNewJobsSQL string
)

const (
	liveCountSQL = `SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL`

	firstSyncSQL = `
		SELECT NOT EXISTS (SELECT 1 FROM modelarts.visualization_jobs WHERE source = $1)
		   AND NOT EXISTS (SELECT 1 FROM modelarts.visualization_job_history WHERE source = $1)`
)

// UpsertPage stores one page of jobs observed at observedAt, with a fixed number of round trips whatever
// the page size:
//
//   - It remembers the ids as seen by the current walk (see NextWalk; seen.go) and compares each job's
//     fingerprint with the stored one (visualization_jobs.content_sha256): new jobs, changed jobs,
//     jobs back from deletion, and jobs whose last_seen_at is older than RunOptions.SeenRefresh need
//     writing. Only those are sent on. A full run reads the source's fingerprints once, at its first
//     page, and compares in memory (known.go, plan.go): a page in which nothing changed costs no round
//     trip. Jobs it cannot decide there (new to it, or last seen close to the refresh cutoff), and every
//     job of a head run, are looked up with one read-only scan of the primary key per page
//     (stored_fingerprints.sql). In a first sync of the source (no row in the job and history tables
//     when the run first stores jobs) nothing is compared: the jobs are inserted from arrays with
//     their first versions (insert_new_jobs.sql).
//   - In one transaction, it COPYs them into the staging table (staged.go), then set-based statements
//     close the open history version of each job whose status, name, description, service URL or train
//     URL changed (valid_to = observedAt); insert new jobs and rewrite known ones whose stored content
//     changed (or whose last_seen_at is older than the refresh cutoff), clearing deleted_at; and open a
//     version (valid_from = observedAt) for each job with none open: new jobs, changed jobs and jobs
//     back from deletion.
//
// A job whose content did not change causes no write. A job whose fingerprint is not stored yet (last
// written before the column existed) or differs while its stored content does not is compared in full,
// and still causes no write. A job id that appears more than once in jobs is stored once, as its last
// occurrence. Strings and Raw are made storable first: NUL characters, which PostgreSQL text cannot
// hold, are removed, and Raw is re-encoded if it holds invalid UTF-8 or \u escapes that jsonb rejects.
// A Raw that is not JSON fails the page.
//
// observedAt must not go back in time for a source (a version cannot end before it starts): pass the
// time the page was received. Callers may pass several pages' jobs at once: a transaction costs about
// the same for a hundred jobs as for a thousand.
func (r *Run) UpsertPage(ctx context.Context, jobs []Job, observedAt time.Time) (PageResult, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return PageResult{}, err
	}
	jobs = lastOccurrences(jobs)
	if len(jobs) == 0 {
		return PageResult{}, nil
	}
	cutoff := observedAt.Add(-r.seenRefresh)
	if err := timed(&r.times.Lookup, func() error { return r.startWrites(ctx, conn, cutoff) }); err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	r.times.Batches++
	var sums [][]byte
	var plan pagePlan
	_ = timed(&r.times.Prepare, func() error {
		sums = fingerprints(jobs)
		plan = planPage(r.known, r.start == firstSync, jobs, sums, cutoff)
		return nil
	})
	_ = timed(&r.times.Seen, func() error {
		for i, j := range jobs {
			r.seen.see(r.walk, j.JobID, plan.known[i])
		}
		return nil
	})
	if asked := plan.with(ask); len(asked) > 0 {
		err := timed(&r.times.Lookup, func() error { return r.lookup(ctx, conn, jobs, sums, asked, plan, cutoff) })
		if err != nil {
			return PageResult{}, fmt.Errorf("upsert page: %w", interpretError(err))
		}
	}
	toWrite := plan.with(write)
	if len(toWrite) == 0 {
		return PageResult{Unchanged: len(jobs)}, nil
	}
	var rows []stagedJob
	if err := timed(&r.times.Prepare, func() (err error) { rows, err = stageJobs(jobs, sums, toWrite); return err }); err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	res, err := r.write(ctx, conn, rows, observedAt, cutoff)
	if err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", interpretError(err))
	}
	for _, i := range toWrite {
		if k := plan.known[i]; k >= 0 {
			r.known.written(k, sums[i])
		}
	}
	res.Unchanged = len(jobs) - res.Inserted - res.Updated
	return res, nil
}

// write stores rows in one transaction: in a first sync, from arrays with their first versions
// (insert_new_jobs.sql), unless the batch is too heavy for arrays; the rest through the staging table
// and the three page steps.
func (r *Run) write(ctx context.Context, conn *pgxpool.Conn, rows []stagedJob, observedAt, cutoff time.Time) (PageResult, error) {
	var res PageResult
	if err := makeStaging(ctx, conn.Conn()); err != nil {
		return res, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit: nothing
	if r.start == firstSync && rowBytes(rows) <= maxArrayBytes {
		var ids []int64
		if err := timed(&r.times.Write, func() (err error) { ids, err = r.insertNew(ctx, tx, rows, observedAt); return err }); err != nil {
			return res, err
		}
		res.Inserted = len(ids)
		rows = without(rows, ids) // listed earlier in the run: the ordinary steps below
	}
	if len(rows) > 0 {
		if err := timed(&r.times.Copy, func() error { return copyStaged(ctx, tx, rows) }); err != nil {
			return res, err
		}
		var inserted int
		err := timed(&r.times.Write, func() error {
			b := &pgx.Batch{}
			b.Queue(closeChangedVersionsSQL, r.source, observedAt)
			b.Queue(upsertJobsSQL, r.source, observedAt, cutoff).QueryRow(func(row pgx.Row) error {
				return row.Scan(&inserted, &res.Updated)
			})
			b.Queue(openVersionsSQL, r.source, observedAt, r.id)
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			return res, err
		}
		res.Inserted += inserted
	}
	return res, timed(&r.times.Write, func() error { return tx.Commit(ctx) })
}

// writeStart is what a run found out about the source when it first stored jobs (startWrites).
type writeStart int8

const (
	notStarted writeStart = iota // the run has stored no job yet
	firstSync                    // the source had no row in the job and history tables: insert without comparing (insert_new_jobs.sql)
	resync                       // the source had rows: compare
)

// startWrites runs before the run first records a job: it finds out whether this is a first sync of
// the source (no row in the job and history tables) and, for a full run that is not, reads what the
// source holds (known.go) at the refresh cutoff of the first page. Later calls do nothing.
func (r *Run) startWrites(ctx context.Context, conn *pgxpool.Conn, cutoff time.Time) error {
	if r.start != notStarted {
		return nil
	}
	var first bool
	if err := conn.QueryRow(ctx, firstSyncSQL, r.source).Scan(&first); err != nil {
		return interpretError(err)
	}
	if r.full && !first {
		k, err := loadKnown(ctx, conn, r.source, cutoff)
		if err != nil {
			return fmt.Errorf("read the source's jobs: %w", interpretError(err))
		}
		r.known = k
		r.seen.release()
		r.seen = newSeenSet(k.n) // nothing listed yet: the run stores its first jobs
	}
	r.start = resync
	if first {
		r.start = firstSync
	}
	return nil
}

// lookup asks the database about the jobs at positions asked of the page (sums: their fingerprints)
// and gives each the verdict write or skip in plan: write for new jobs, jobs whose stored fingerprint
// differs or is not stored yet, jobs marked deleted, and jobs last seen before cutoff.
func (r *Run) lookup(ctx context.Context, conn *pgxpool.Conn, jobs []Job, sums [][]byte, asked []int, plan pagePlan, cutoff time.Time) error {
	type storedSum struct {
		sum   []byte
		fresh bool
	}
	ids := make([]int64, len(asked))
	for k, i := range asked {
		ids[k] = jobs[i].JobID
	}
	have := make(map[int64]storedSum, len(ids))
	rows, err := conn.Query(ctx, storedFingerprintsSQL, r.source, ids, cutoff)
	if err != nil {
		return err
	}
	var (
		id int64
		st storedSum
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &st.sum, &st.fresh}, func() error {
		have[id] = storedSum{sum: bytes.Clone(st.sum), fresh: st.fresh}
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range asked {
		plan.verdicts[i] = skip
		if st, ok := have[jobs[i].JobID]; !ok || !st.fresh || !bytes.Equal(st.sum, sums[i]) {
			plan.verdicts[i] = write
		}
	}
	return nil
}

// lastOccurrences returns jobs with one job per id, its last occurrence, in the order of the last
// occurrences.
func lastOccurrences(jobs []Job) []Job {
	last := make(map[int64]int, len(jobs))
	for i, j := range jobs {
		last[j.JobID] = i
	}
	if len(last) == len(jobs) {
		return jobs
	}
	out := make([]Job, 0, len(last))
	for i, j := range jobs {
		if last[j.JobID] == i {
			out = append(out, j)
		}
	}
	return out
}

// fingerprints are the jobs' fingerprints, in the order of jobs.
func fingerprints(jobs []Job) [][]byte {
	sums := make([][]byte, len(jobs))
	for i, j := range jobs {
		sums[i] = j.fingerprint()
	}
	return sums
}

// stageJobs stages the jobs at positions of jobs (sums: the fingerprints of jobs), in that order.
func stageJobs(jobs []Job, sums [][]byte, positions []int) ([]stagedJob, error) {
	rows := make([]stagedJob, len(positions))
	for k, i := range positions {
		var err error
		if rows[k], err = stage(jobs[i], sums[i]); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// fingerprint is the SHA-256 of the job as given: every field, each encoded with its length, so that no
// two jobs share an encoding. What UpsertPage stores is a function of these fields alone (NULs removed,
// Raw re-encoded when jsonb needs it), so jobs with the same fingerprint are stored alike.
func (j Job) fingerprint() []byte {
	h := sha256.New()
	var b []byte
	field := func(v []byte) {
		b = binary.AppendUvarint(b[:0], uint64(len(v)))
		h.Write(b)
		h.Write(v)
	}
	number := func(n int64) {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(n))
		field(v[:])
	}
	number(j.JobID)
	field([]byte(j.Name))
	field([]byte(j.Desc))
	number(int64(j.Status))
	if j.CreateTime.IsZero() { // stored as null
		field(nil)
	} else {
		number(j.CreateTime.UnixMicro()) // timestamptz keeps microseconds
	}
	number(j.DurationMS)
	field([]byte(j.ServiceURL))
	field([]byte(j.TrainURL))
	field([]byte(j.ResourceID))
	field(j.Raw)
	// Fields added later are encoded only when set, so that the fingerprints stored before they existed
	// still match the jobs that do not have them: those need no write.
	if j.RemainingDurationMS != nil {
		number(*j.RemainingDurationMS)
	}
	return h.Sum(nil)
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
// seen count refers to the current walk: a job counts as seen
// only if the current walk upserted it, so a re-walk that is verified complete decides on its own.
func (r *Run) NextWalk() int {
	r.walk++
	return r.walk
}

// SeenCount is the number of distinct jobs the current walk has upserted so far.
func (r *Run) SeenCount(ctx context.Context) (int64, error) {
	defer r.hold()() // Finish gives the seen set's memory back under the run's mutex
	if r.finished {
		return 0, ErrRunFinished
	}
	return r.seen.count(r.walk), nil
}

// SeenTotal is the number of distinct jobs the run has upserted so far, over all its walks: the
// run's jobs_seen. Every job the run inserted or updated is among them.
func (r *Run) SeenTotal(ctx context.Context) (int64, error) {
	defer r.hold()() // Finish gives the seen set's memory back under the run's mutex
	if r.finished {
		return 0, ErrRunFinished
	}
	return r.seen.total(), nil
}

// LiveCount is the number of jobs of the source not marked deleted.
func (r *Run) LiveCount(ctx context.Context) (int64, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := conn.QueryRow(ctx, liveCountSQL, r.source).Scan(&n); err != nil {
		return 0, fmt.Errorf("count live jobs: %w", interpretError(err))
	}
	return n, nil
}

// MarkDeleted marks deleted, at observedAt, those of ids that are live jobs of the source and were not
// listed by the current walk, closes their open history versions and takes them off the queue of
// deletion candidates, atomically. It returns how many it marked. Callers pass only jobs the service
// itself said do not exist.
func (r *Run) MarkDeleted(ctx context.Context, observedAt time.Time, ids []int64) (int64, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return 0, err
	}
	// The jobs the current walk listed are left out; known ones that are not must be written when
	// listed again.
	var rest []int64
	for _, id := range ids {
		k := r.known.index(id)
		if r.seen.lastWalk(id, k) == r.walk {
			continue
		}
		if k >= 0 {
			r.known.markDue(k)
		}
		rest = append(rest, id)
	}
	if len(rest) == 0 {
		return 0, nil
	}
	var n int64
	if err := conn.QueryRow(ctx, markDeletedSQL, r.source, observedAt, rest).Scan(&n); err != nil {
		return 0, fmt.Errorf("mark deleted: %w", interpretError(err))
	}
	return n, nil
}

// maxArrayBytes is the most a batch's text may weigh for insert_new_jobs.sql, which holds the whole
// batch in memory several times over (the arrays, then the message): a heavier batch (descriptions of
// megabytes) is COPYed to staging, which streams, and takes the ordinary steps.
const maxArrayBytes = 4 << 20
