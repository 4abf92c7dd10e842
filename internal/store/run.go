package store

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vizjob/indexer/internal/textcap"
)

// Run states, as stored in modelarts.sync_runs.state.
const (
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StatePartial   = "partial"
	StateFailed    = "failed"
)

// sourceLockClass is the first key of every per-source advisory lock, pg_try_advisory_lock(class,
// hashtext(source)): the two-key form lives in a key space apart from goose's one-key lock. 0x56495A4A
// is "VIZJ". Two sources whose names hash alike share a lock: they then never run at the same time,
// which is safe, merely slower.
const sourceLockClass int32 = 0x56495A4A

// DefaultSeenRefresh is how often last_seen_at of an unchanged job is refreshed when RunOptions says
// nothing.
const DefaultSeenRefresh = 24 * time.Hour

// finishTimeout bounds Finish when the context it is given is already done: how a run ended is still
// recorded after a cancellation.
const finishTimeout = 10 * time.Second

// abandonedError is the error recorded on a ledger row left 'running' by a process that stopped.
const abandonedError = "abandoned: the process running it stopped before recording an outcome"

// RunOptions tune a run. The zero value is ready to use.
type RunOptions struct {
	// SeenRefresh: last_seen_at of a job whose content did not change is refreshed at most once per
	// SeenRefresh (default DefaultSeenRefresh; negative: at every sighting). Between refreshes, a
	// resync that finds nothing changed writes no row at all in visualization_jobs or
	// visualization_job_history (no dead tuples, no WAL), at the price of last_seen_at lagging by up to
	// SeenRefresh for unchanged jobs.
	SeenRefresh time.Duration

	// Kind is the kind of run recorded in sync_runs.kind: KindFull (default) or KindHead.
	Kind string

	// LockLease bounds how long the source's lock outlives a holder that died or lost the network
	// (default DefaultLockLease): the server ends the run's session when it has been idle that long,
	// which a run that is alive prevents with a heartbeat every quarter of it.
	LockLease time.Duration
}

// Kinds of run (sync_runs.kind).
const (
	KindFull = "full" // a walk over every page: the source of truth, settles deletions
	KindHead = "head" // the newest jobs and the jobs in a status that is not final; never deletes
)

// DefaultLockLease is RunOptions.LockLease's default: a dead holder's lock is free again within a minute.
const DefaultLockLease = time.Minute

// RunStats is what Finish records in the run's ledger row.
type RunStats struct {
	State         string // StateSucceeded, StatePartial or StateFailed
	Walks         int    // walks over all pages (more than 1 when a walk was retried)
	Pages         int    // pages read, over all walks
	Requests      int    // HTTP requests, retries included
	Retries       int    // HTTP requests that retried a failed one
	JobsSeen      int64  // distinct jobs the run saw, over all its walks (Run.SeenTotal)
	Inserted      int64  // of those, jobs the database did not hold: Inserted <= JobsSeen
	Updated       int64  // changes written to jobs the database held (a job changed twice during a run counts twice)
	Deleted       int64  // jobs marked deleted
	BadItems      int64  // items that could not be decoded
	APITotalCount int64  // job_total_count of the last page; recorded as null when Pages is 0
	// DeletionChecks: requests spent asking the service about deletion candidates.
	DeletionChecks int
	// DeletionsPending: candidates still waiting for evidence at the end; recorded as null when negative
	// (the run ended before counting them).
	DeletionsPending int64
	Error            string // why the run failed or was partial; empty when it succeeded
	// ListedAll: a walk of the run listed every page of the source, to the end of the listing, proven
	// complete or not (sync_runs.listed_every_page; source_sync_state.last_listed_at).
	ListedAll bool
}

// Run is one sync of one source: it holds the source's lock and one connection of the pool from
// BeginRun to Finish. A Run is not safe for concurrent use; its methods run one at a time.
type Run struct {
	store       *Store
	conn        *pgxpool.Conn // nil once finished
	id          int64
	source      string
	seenRefresh time.Duration
	walk        int // current walk, see NextWalk
	log         *slog.Logger
	pendingSeen []int64 // ids seen by walk pendingWalk, not yet in the seen table (see noteSeen)
	pendingWalk int
	// firstSync: the source had no row in the job and history tables when the run first stored jobs;
	// nil until then. UpsertPage then inserts without comparing (insert_new_jobs.sql).
	firstSync *bool
	// full: the run walks every page (KindFull); known is what it read of the source's jobs at its
	// first page that was not a first sync (known.go), nil before that and in other runs.
	full  bool
	known *knownJobs
	times WriteTimes

	mu       sync.Mutex    // the connection is used by one method, or the heartbeat, at a time
	stopBeat chan struct{} // closed by Finish
	beatDone chan struct{} // closed when the heartbeat has stopped
	// socket and backendPID are the run's connection's, for the heartbeat's watch on a statement
	// that does not come back (watchdog.go); set once before the heartbeat starts.
	socket     net.Conn
	backendPID uint32
}

const (
	lockSourceSQL = `SELECT pg_try_advisory_lock($1::integer, hashtext($2::text))`

	unlockSourceSQL = `SELECT pg_advisory_unlock($1::integer, hashtext($2::text))`

	lockHolderSQL = `
		SELECT id, coalesce(hostname, '?'), coalesce(pid, 0), started_at
		FROM modelarts.sync_runs
		WHERE source = $1 AND state = 'running'
		ORDER BY id DESC
		LIMIT 1`

	closeAbandonedSQL = `
		UPDATE modelarts.sync_runs
		SET state = 'failed', finished_at = now(), error = $2
		WHERE source = $1 AND state = 'running'
		RETURNING id`

	insertRunSQL = `
		INSERT INTO modelarts.sync_runs (source, state, hostname, pid, kind)
		VALUES ($1, 'running', $2, $3, $4)
		RETURNING id`

	dropRunTablesSQL = `DROP TABLE IF EXISTS pg_temp.vizjob_staging, pg_temp.vizjob_seen; RESET gin_pending_list_limit`
)

//go:embed sql/create_run_tables.sql
var createRunTablesSQL string

// BeginRun starts a run of source: it takes a connection of the pool for the whole run, takes the
// source's session advisory lock on it (an error wrapping ErrSourceBusy if another run, in any
// process, holds it), closes as failed any ledger row of the source still 'running' (left by a
// process that stopped), records the new run and creates the run's temporary tables.
//
// The lock and the connection are held until Finish, which must be called.
func (s *Store) BeginRun(ctx context.Context, source string, opts RunOptions) (*Run, error) {
	if source == "" {
		return nil, errors.New("begin run: empty source name")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin run of %q: %w", source, interpretError(err))
	}
	r, err := s.beginRun(ctx, conn, source, opts)
	if err != nil {
		if !errors.Is(err, ErrSourceBusy) {
			// Ending the session releases the lock and the temporary tables, whatever state they are in.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
		return nil, fmt.Errorf("begin run of %q: %w", source, err)
	}
	return r, nil
}

func (s *Store) beginRun(ctx context.Context, conn *pgxpool.Conn, source string, opts RunOptions) (*Run, error) {
	var locked bool
	if err := conn.QueryRow(ctx, lockSourceSQL, sourceLockClass, source).Scan(&locked); err != nil {
		return nil, interpretError(err)
	}
	if !locked {
		return nil, s.busyError(ctx, conn, source)
	}

	rows, err := conn.Query(ctx, closeAbandonedSQL, source, abandonedError)
	if err != nil {
		return nil, interpretError(err)
	}
	abandoned, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, interpretError(err)
	}
	for _, id := range abandoned {
		s.log.Warn("closed a run left running by a process that stopped",
			"source", source, "abandoned_run_id", id)
	}

	hostname, _ := os.Hostname()
	var id int64
	if err := conn.QueryRow(ctx, insertRunSQL, source, hostname, os.Getpid(), cmp.Or(opts.Kind, KindFull)).Scan(&id); err != nil {
		return nil, interpretError(err)
	}
	if _, err := conn.Exec(ctx, createRunTablesSQL); err != nil {
		return nil, interpretError(err)
	}
	lease := cmp.Or(opts.LockLease, DefaultLockLease)
	if _, err := conn.Exec(ctx, setLeaseSQL, leaseSettings(lease)...); err != nil {
		return nil, interpretError(err)
	}
	r := &Run{
		store:       s,
		conn:        conn,
		id:          id,
		source:      source,
		seenRefresh: cmp.Or(opts.SeenRefresh, DefaultSeenRefresh),
		walk:        1,
		full:        cmp.Or(opts.Kind, KindFull) == KindFull,
		log:         s.log.With("source", source, "run_id", id),
		stopBeat:    make(chan struct{}),
		beatDone:    make(chan struct{}),
		socket:      conn.Conn().PgConn().Conn(),
		backendPID:  conn.Conn().PgConn().PID(),
	}
	go r.heartbeat(lease)
	return r, nil
}

// The lease of a run's session: the server ends the session (and so releases the source's lock)
// when it has been idle, or idle in a transaction, for the lease; TCP keepalives and
// tcp_user_timeout end it when the network is gone while the server waits on the client. The
// settings are the session's own and reset when the run ends.
const (
	setLeaseSQL = `SELECT set_config('idle_session_timeout', $1, false),
		set_config('idle_in_transaction_session_timeout', $1, false),
		set_config('tcp_user_timeout', $1, false),
		set_config('tcp_keepalives_idle', $2, false),
		set_config('tcp_keepalives_interval', $3, false),
		set_config('tcp_keepalives_count', '3', false)`
	resetLeaseSQL = `RESET idle_session_timeout; RESET idle_in_transaction_session_timeout; RESET tcp_user_timeout;
		RESET tcp_keepalives_idle; RESET tcp_keepalives_interval; RESET tcp_keepalives_count`
)

// leaseSettings are setLeaseSQL's arguments: the lease in milliseconds, and keepalives that give up
// within half of it (idle a quarter, then three probes a twelfth apart).
func leaseSettings(lease time.Duration) []any {
	secs := func(d time.Duration) string { return strconv.Itoa(max(int(d/time.Second), 1)) }
	return []any{strconv.FormatInt(lease.Milliseconds(), 10), secs(lease / 4), secs(lease / 12)}
}

// heartbeat keeps the run's session from being idle for its lease while the run is alive (waiting
// for the API between two pages, or retrying), until Finish.
func (r *Run) heartbeat(lease time.Duration) {
	defer close(r.beatDone)
	t := time.NewTicker(lease / 4)
	defer t.Stop()
	var busySince time.Time // when the heartbeat first found the connection in use, in a row
	for {
		select {
		case <-r.stopBeat:
			return
		case <-t.C:
		}
		if !r.mu.TryLock() { // a statement is in flight: see that it can still come back
			busySince = cmp.Or(busySince, time.Now())
			if r.stuck(time.Since(busySince), lease) {
				return
			}
			continue
		}
		busySince = time.Time{}
		if r.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), lease/2)
			err := r.conn.Ping(ctx)
			cancel()
			if err != nil {
				r.mu.Unlock()
				// The driver closed the connection: the server ends the session, and the lock, within the
				// lease; the run's next statement fails.
				r.log.Warn("the run's database session does not answer; the source's lock is lost when the server ends it",
					"error", interpretError(err), "lock_lease", lease)
				return
			}
		}
		r.mu.Unlock()
	}
}

// hold keeps the heartbeat off the connection until the returned function is called.
func (r *Run) hold() func() {
	r.mu.Lock()
	return r.mu.Unlock
}

// BusyError says who holds a source's lock, as far as the ledger knows. It matches ErrSourceBusy.
type BusyError struct {
	RunID     int64
	Host      string
	PID       int
	StartedAt time.Time
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v (run %d on host %s, pid %d, started %s)",
		ErrSourceBusy, e.RunID, e.Host, e.PID, e.StartedAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrSourceBusy) true.
func (e *BusyError) Unwrap() error { return ErrSourceBusy }

// busyError says who holds the source's lock, as far as the ledger knows: a *BusyError, or
// ErrSourceBusy when the ledger has no running row.
func (s *Store) busyError(ctx context.Context, conn *pgxpool.Conn, source string) error {
	var e BusyError
	err := conn.QueryRow(ctx, lockHolderSQL, source).Scan(&e.RunID, &e.Host, &e.PID, &e.StartedAt)
	if err != nil {
		return ErrSourceBusy
	}
	return &e
}

// ID is the run's id in modelarts.sync_runs.
func (r *Run) ID() int64 { return r.id }

// Source is the name of the source the run syncs.
func (r *Run) Source() string { return r.source }

// Finish records how the run ended in its ledger row (finished_at, state, counts, error), then
// releases the source's lock and the connection. It must be called exactly once per run, also after
// errors; later calls return ErrRunFinished.
//
// If ctx is already done, Finish still records the outcome, within a short timeout of its own. If
// the run's connection broke, Finish closes it (the server then drops the lock with the session),
// records the outcome through another connection of the pool if it can, and returns the error.
// A State that is not final is recorded as failed.
func (r *Run) Finish(ctx context.Context, st RunStats) error {
	r.mu.Lock()
	if r.conn == nil {
		r.mu.Unlock()
		return ErrRunFinished
	}
	r.mu.Unlock()
	close(r.stopBeat)
	<-r.beatDone
	defer r.hold()()
	conn := r.conn
	r.conn = nil
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
	}
	if r.known != nil {
		r.known.release()
		r.known = nil
	}

	var stateErr error
	switch st.State {
	case StateSucceeded, StatePartial, StateFailed:
	default:
		stateErr = fmt.Errorf("finish run %d: state %q is not a final state, recorded as failed", r.id, st.State)
		st.Error = cmp.Or(st.Error, stateErr.Error())
		st.State = StateFailed
	}
	args := r.finishArgs(st)
	if r.times.Batches > 0 {
		r.log.Info("write path", "times", r.times)
	}

	tag, err := conn.Exec(ctx, finishRunSQL, args...)
	if err == nil {
		err = r.release(ctx, conn)
		conn.Release()
		if err != nil {
			return errors.Join(stateErr, fmt.Errorf("finish run %d: %w", r.id, interpretError(err)))
		}
		return errors.Join(stateErr, r.closedElsewhere(tag.RowsAffected()))
	}

	// The connection failed: end the session, which drops the lock, and try to record the outcome
	// through a fresh connection so the ledger does not wait for the next run to call it abandoned.
	_ = conn.Conn().Close(context.WithoutCancel(ctx))
	conn.Release()
	err = fmt.Errorf("finish run %d: %w", r.id, interpretError(err))
	if tag, err2 := r.store.pool.Exec(ctx, finishRunSQL, args...); err2 != nil {
		err = errors.Join(err, fmt.Errorf("record outcome of run %d: %w", r.id, interpretError(err2)))
	} else {
		err = errors.Join(err, r.closedElsewhere(tag.RowsAffected()))
	}
	return errors.Join(stateErr, err)
}

// closedElsewhere is the error of a Finish whose update found the run's row no longer running: another
// process closed it as abandoned (this one's session had been ended), and its record is kept.
func (r *Run) closedElsewhere(updated int64) error {
	if updated > 0 {
		return nil
	}
	return fmt.Errorf("finish run %d: its ledger row was already closed by another process (as abandoned: this "+
		"process's session had ended, e.g. after the lock's lease); that record is kept, this outcome is not recorded", r.id)
}

// release drops the run's temporary tables and unlocks the source, so that the connection goes back
// to the pool clean. If anything fails, it closes the connection instead: the session's end releases
// both.
func (r *Run) release(ctx context.Context, conn *pgxpool.Conn) error {
	_, err := conn.Exec(ctx, dropRunTablesSQL)
	if err == nil {
		_, err = conn.Exec(ctx, resetLeaseSQL)
	}
	if err == nil {
		var unlocked bool
		err = conn.QueryRow(ctx, unlockSourceSQL, sourceLockClass, r.source).Scan(&unlocked)
		if err == nil && !unlocked {
			err = errors.New("source lock was not held at finish")
		}
	}
	if err != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
	}
	return err
}

func (r *Run) finishArgs(st RunStats) []any {
	var apiTotal *int64
	if st.Pages > 0 {
		apiTotal = &st.APITotalCount
	}
	var errText *string
	if st.Error != "" {
		text := textcap.Clean(st.Error, MaxErrorText)
		errText = &text
	}
	var pending *int64
	if st.DeletionsPending >= 0 {
		pending = &st.DeletionsPending
	}
	return []any{r.id, st.State, st.Walks, st.Pages, st.Requests, st.Retries,
		st.JobsSeen, st.Inserted, st.Updated, st.Deleted, st.BadItems, apiTotal, errText,
		st.DeletionChecks, pending, st.ListedAll}
}

// MaxErrorText caps sync_runs.error, in bytes: a longer error is cut and marked so. Control
// characters are stored escaped (\n, \x1b), so that a terminal showing the ledger shows text.
const MaxErrorText = 8 << 10

//go:embed sql/finish_run.sql
var finishRunSQL string

// active returns the run's connection, or ErrRunFinished. Exported methods that use it call
// defer r.hold()() first, so that the heartbeat never uses the connection at the same time.
func (r *Run) active() (*pgxpool.Conn, error) {
	if r.conn == nil {
		return nil, ErrRunFinished
	}
	return r.conn, nil
}

// progressRunSQL records the progress of a run still running; a finished row is left alone.
const progressRunSQL = `
	UPDATE modelarts.sync_runs
	SET walks = $2::integer, pages = $3::integer, requests = $4::integer, retries = $5::integer,
	    jobs_seen = $6::bigint, jobs_inserted = $7::bigint, jobs_updated = $8::bigint,
	    bad_items = $9::bigint, api_total_count = $10::bigint
	WHERE id = $1::bigint AND state = 'running'`

// Progress records the counts of a run so far in its ledger row, which stays 'running': a long
// run is visible (sync_runs, the status page) before it ends. State and Error are ignored.
func (r *Run) Progress(ctx context.Context, st RunStats) error {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active()
	if err != nil {
		return err
	}
	var apiTotal *int64
	if st.Pages > 0 {
		apiTotal = &st.APITotalCount
	}
	if _, err := conn.Exec(ctx, progressRunSQL, r.id, st.Walks, st.Pages, st.Requests, st.Retries,
		st.JobsSeen, st.Inserted, st.Updated, st.BadItems, apiTotal); err != nil {
		return fmt.Errorf("record progress of run %d: %w", r.id, interpretError(err))
	}
	return nil
}
