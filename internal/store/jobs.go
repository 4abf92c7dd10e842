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
	// The ids are made distinct first: ON CONFLICT cannot update one row twice in a statement.
	flushSeenSQL = `
		INSERT INTO modelarts.run_seen AS s (run_id, job_id, walk)
		SELECT DISTINCT $3::bigint, id, $2::integer FROM unnest($1::bigint[]) AS id
		ON CONFLICT (run_id, job_id) DO UPDATE SET walk = excluded.walk WHERE s.walk <> excluded.walk`

	seenCountSQL = `SELECT count(*) FROM modelarts.run_seen WHERE run_id = $2::bigint AND walk = $1::integer`

	seenTotalSQL = `SELECT count(*) FROM modelarts.run_seen WHERE run_id = $1::bigint`

	liveCountSQL = `SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL`

	firstSyncSQL = `
		SELECT NOT EXISTS (SELECT 1 FROM modelarts.visualization_jobs WHERE source = $1)
		   AND NOT EXISTS (SELECT 1 FROM modelarts.visualization_job_history WHERE source = $1)`
)

var stagingTable = pgx.Identifier{"pg_temp", "vizjob_staging"}

var stagingColumns = []string{
	"job_id", "job_name", "job_desc", "status", "create_time", "duration_ms",
	"service_url", "train_url", "resource_id", "raw", "content_sha256",
}

// UpsertPage stores one page of jobs observed at observedAt, with a fixed number of round trips whatever
// the page size:
//
//   - It remembers the ids as seen by the current walk (see NextWalk) and compares each job's
//     fingerprint with the stored one (visualization_jobs.content_sha256): new jobs, changed jobs,
//     jobs back from deletion, and jobs whose last_seen_at is older than RunOptions.SeenRefresh need
//     writing. Only those are sent on. A full run reads the source's fingerprints once, at its first
//     page, and compares in memory (known.go): a page in which nothing changed costs no round trip.
//     Jobs it cannot decide there (new to it, or last seen close to the refresh cutoff), and every job
//     of a head run, are looked up with one read-only scan of the primary key per page
//     (stored_fingerprints.sql). In a first sync of the source (no row in the job and history tables
//     when the run first stores jobs) nothing is compared: the jobs are inserted from arrays with
//     their first versions (insert_new_jobs.sql).
//   - In one transaction, it COPYs them into the staging table, then set-based statements close the
//     open history version of each job whose status, name, description, service URL or train URL
//     changed (valid_to = observedAt); insert new jobs and rewrite known ones whose stored content
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
	if err := r.startWrites(ctx, conn, cutoff); err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	r.times.Batches++
	t := time.Now()
	ids := make([]int64, len(jobs))
	sums := make([][]byte, len(jobs))
	for i, j := range jobs {
		ids[i], sums[i] = j.JobID, j.fingerprint()
	}
	t = since(&r.times.Prepare, t)
	// Each job is known to the run (decided in memory, seen noted in memory) or not (asked about,
	// seen noted in the seen table).
	var need, ask []int64 // need nil: every job (a first sync: nothing to compare with)
	var askSums [][]byte
	var unseen []int64
	if !*r.firstSync {
		need = []int64{}
	}
	for i, id := range ids {
		k := r.knownIndex(id)
		if k < 0 {
			unseen = append(unseen, id)
			if need != nil {
				ask, askSums = append(ask, id), append(askSums, sums[i])
			}
			continue
		}
		r.known.see(r.walk, k)
		switch r.known.decide(k, sums[i], cutoff) {
		case toWrite:
			need = append(need, id)
		case unknown:
			ask, askSums = append(ask, id), append(askSums, sums[i])
		}
	}
	if err := r.noteSeen(ctx, unseen); err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	t = since(&r.times.Seen, t)
	if len(ask) > 0 {
		more, err := r.changed(ctx, conn, ask, askSums, cutoff)
		if err != nil {
			return PageResult{}, fmt.Errorf("upsert page: %w", interpretError(err))
		}
		need = append(need, more...)
		t = since(&r.times.Lookup, t)
	}
	if need != nil && len(need) == 0 {
		return PageResult{Unchanged: len(jobs)}, nil
	}
	res := PageResult{Unchanged: len(jobs)}
	rows, err := stagingRows(jobs, sums, need)
	if err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", err)
	}
	t = since(&r.times.Prepare, t)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if *r.firstSync && rowBytes(rows) <= maxArrayBytes {
			ids, err := r.insertNew(ctx, tx, rows, observedAt)
			if err != nil {
				return err
			}
			t = since(&r.times.Write, t)
			if res.Inserted = len(ids); res.Inserted == len(rows) {
				return nil
			}
			rows = without(rows, ids) // listed earlier in the run: the ordinary steps below
		}
		if _, err := tx.CopyFrom(ctx, stagingTable, stagingColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy to staging: %w", err)
		}
		t = since(&r.times.Copy, t)
		var inserted int
		b := &pgx.Batch{}
		b.Queue(closeChangedVersionsSQL, r.source, observedAt)
		b.Queue(upsertJobsSQL, r.source, observedAt, cutoff).QueryRow(func(row pgx.Row) error {
			return row.Scan(&inserted, &res.Updated)
		})
		b.Queue(openVersionsSQL, r.source, observedAt, r.id)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		res.Inserted += inserted
		return nil
	})
	since(&r.times.Write, t)
	if err != nil {
		return PageResult{}, fmt.Errorf("upsert page: %w", interpretError(err))
	}
	for _, row := range rows {
		if k := r.knownIndex(row[0].(int64)); k >= 0 {
			r.known.written(k, row[10].([]byte))
		}
	}
	res.Unchanged -= res.Inserted + res.Updated
	return res, nil
}

// startWrites runs before the run first records a job: it finds out whether this is a first sync of
// the source (no row in the job and history tables) and, for a full run that is not, reads what the
// source holds (known.go) at the refresh cutoff of the first page. Later calls do nothing.
func (r *Run) startWrites(ctx context.Context, conn *pgxpool.Conn, cutoff time.Time) error {
	if r.firstSync != nil {
		return nil
	}
	t := time.Now()
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
	}
	r.firstSync = &first
	since(&r.times.Lookup, t)
	return nil
}

// changed returns those of ids (with their fingerprints sums) that need writing: new jobs, jobs whose
// stored fingerprint differs or is not stored yet, jobs marked deleted, and jobs last seen before
// cutoff.
func (r *Run) changed(ctx context.Context, conn *pgxpool.Conn, ids []int64, sums [][]byte, cutoff time.Time) ([]int64, error) {
	type storedSum struct {
		sum   []byte
		fresh bool
	}
	have := make(map[int64]storedSum, len(ids))
	rows, err := conn.Query(ctx, storedFingerprintsSQL, r.source, ids, cutoff)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	need := []int64{}
	for i, id := range ids {
		if st, ok := have[id]; !ok || !st.fresh || !bytes.Equal(st.sum, sums[i]) {
			need = append(need, id)
		}
	}
	return need, nil
}

// seenFlushAt is how many seen ids a run keeps before writing them to its seen table.
const seenFlushAt = 10_000

// noteSeen records ids as seen by the current walk. They are written to the run's seen table in bulk,
// every seenFlushAt ids and before anything reads the table (flushSeen): a page in which nothing
// changed then touches no table at all, not even a temporary one.
func (r *Run) noteSeen(ctx context.Context, ids []int64) error {
	if len(r.pendingSeen) > 0 && r.pendingWalk != r.walk {
		if err := r.flushSeen(ctx); err != nil {
			return err
		}
	}
	r.pendingWalk = r.walk
	r.pendingSeen = append(r.pendingSeen, ids...)
	if len(r.pendingSeen) >= seenFlushAt {
		return r.flushSeen(ctx)
	}
	return nil
}

// flushSeen writes the ids noteSeen kept to the seen table.
func (r *Run) flushSeen(ctx context.Context) error {
	if len(r.pendingSeen) == 0 {
		return nil
	}
	conn, err := r.active(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, flushSeenSQL, r.pendingSeen, r.pendingWalk, r.id); err != nil {
		return fmt.Errorf("record seen jobs: %w", interpretError(err))
	}
	r.pendingSeen = r.pendingSeen[:0]
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

// stagingRows turns the jobs whose ids are in need (nil: every job) into COPY rows, in the order of
// jobs; the last column is the job's fingerprint, from sums (parallel to jobs).
func stagingRows(jobs []Job, sums [][]byte, need []int64) ([][]any, error) {
	var wanted map[int64]bool
	if need != nil {
		wanted = make(map[int64]bool, len(need))
		for _, id := range need {
			wanted[id] = true
		}
	}
	rows := make([][]any, 0, len(jobs))
	for i, j := range jobs {
		if wanted != nil && !wanted[j.JobID] {
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
			storableText(j.ServiceURL), storableText(j.TrainURL), resourceID, raw, sums[i],
		})
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
	return r.countSeen(ctx, "count seen jobs", seenCountSQL, func() ([]any, int64) {
		var n int64
		if r.known != nil {
			n = r.known.seenBy(r.walk)
		}
		return []any{r.walk, r.id}, n
	})
}

// SeenTotal is the number of distinct jobs the run has upserted so far, over all its walks: the
// run's jobs_seen. Every job the run inserted or updated is among them.
func (r *Run) SeenTotal(ctx context.Context) (int64, error) {
	return r.countSeen(ctx, "count seen jobs", seenTotalSQL, func() ([]any, int64) {
		var n int64
		if r.known != nil {
			n = r.known.seenAny()
		}
		return []any{r.id}, n
	})
}

// countSeen writes the seen ids kept in memory for the run's seen table to it, then runs a statement
// that counts on the run's connection and adds what read says the jobs the run knew from its start
// (known.go), which are not in that table, add; what names it in errors. read, which also gives the
// statement's arguments, runs under the run's mutex, once the run is known not finished: Finish
// releases the known jobs' memory under that mutex.
func (r *Run) countSeen(ctx context.Context, what, sql string, read func() (args []any, known int64)) (int64, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return 0, err
	}
	args, known := read()
	if err := r.flushSeen(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", what, interpretError(err))
	}
	return n + known, nil
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
	if r.known != nil {
		// Jobs the run knew from its start are not in the seen table: those the current walk listed
		// are left out here, and the others must be written when listed again.
		var rest []int64
		for _, id := range ids {
			k := r.known.index(id)
			if k >= 0 && r.known.lastSeen(k) == r.walk {
				continue
			}
			if k >= 0 {
				r.known.markDue(k)
			}
			rest = append(rest, id)
		}
		ids = rest
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := r.flushSeen(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := conn.QueryRow(ctx, markDeletedSQL, r.source, observedAt, ids, r.walk, r.id).Scan(&n); err != nil {
		return 0, fmt.Errorf("mark deleted: %w", interpretError(err))
	}
	return n, nil
}

// maxArrayBytes is the most a batch's text may weigh for insert_new_jobs.sql, which holds the whole
// batch in memory several times over (the arrays, then the message): a heavier batch (descriptions of
// megabytes) is COPYed to staging, which streams, and takes the ordinary steps.
const maxArrayBytes = 4 << 20

// rowBytes is the weight of the text and JSON of staging rows.
func rowBytes(rows [][]any) int {
	n := 0
	for _, r := range rows {
		n += len(r[1].(string)) + len(r[2].(string)) + len(r[6].(string)) + len(r[7].(string)) + len(r[9].([]byte))
	}
	return n
}

// columns turns staging rows into one array per column (raw as text), for insert_new_jobs.sql.
func columns(rows [][]any) []any {
	n := len(rows)
	var (
		ids       = make([]int64, n)
		names     = make([]string, n)
		descs     = make([]string, n)
		statuses  = make([]int32, n)
		created   = make([]*time.Time, n)
		durations = make([]int64, n)
		services  = make([]string, n)
		trains    = make([]string, n)
		resources = make([]*string, n)
		raws      = make([]string, n)
		sums      = make([][]byte, n)
	)
	for i, r := range rows {
		ids[i], names[i], descs[i], statuses[i] = r[0].(int64), r[1].(string), r[2].(string), r[3].(int32)
		created[i], durations[i], services[i], trains[i] = r[4].(*time.Time), r[5].(int64), r[6].(string), r[7].(string)
		resources[i], raws[i], sums[i] = r[8].(*string), string(r[9].([]byte)), r[10].([]byte)
	}
	return []any{ids, names, descs, statuses, created, durations, services, trains, resources, raws, sums}
}

// without returns the rows whose job id (column 0) is not in ids.
func without(rows [][]any, ids []int64) [][]any {
	done := make(map[int64]bool, len(ids))
	for _, id := range ids {
		done[id] = true
	}
	var out [][]any
	for _, r := range rows {
		if !done[r[0].(int64)] {
			out = append(out, r)
		}
	}
	return out
}
