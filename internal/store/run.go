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

	// LockLease bounds how long the source's lease (modelarts.source_leases) outlives a holder that
	// died or lost the network (default DefaultLockLease): a run that is alive renews it every quarter
	// of it.
	LockLease time.Duration

	// JobID identifies the queue's job that runs the run (River's job id), recorded in the lease for
	// the queue's reaper; 0: none (indexer sync).
	JobID int64
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

// Run is one sync of one source: it holds the source's lease from BeginRun to Finish, and a
// connection of the pool only while one of its methods runs (never while the caller waits on the
// API). A Run is not safe for concurrent use; its methods run one at a time.
type Run struct {
	store       *Store
	conn        *pgxpool.Conn // the connection of the method running, if it has taken one
	finished    bool
	id          int64
	source      string
	seenRefresh time.Duration
	walk        int // current walk, see NextWalk
	log         *slog.Logger
	// start: whether the source had rows when the run first stored jobs (startWrites).
	start writeStart
	// full: the run walks every page (KindFull); known is what it read of the source's jobs at its
	// first page that was not a first sync (known.go), nil before that and in other runs.
	full  bool
	known *knownJobs
	seen  *seenSet // what the run's walks listed (seen.go)
	times WriteTimes

	mu       sync.Mutex    // one method at a time
	stopBeat chan struct{} // closed by Finish
	beatDone chan struct{} // closed when the heartbeat has stopped
	lease    time.Duration
	lost     chan struct{} // closed when the heartbeat finds the lease lost (see Lost)
	sockMu   sync.Mutex
	sock     net.Conn // the socket of the connection the running method took (watchdog.go)
}

const (
	// takeLeaseSQL takes the source's lease if nobody holds it or its holder's has expired; no row:
	// another run holds it. Two runs that try at once are serialized by the primary key.
	takeLeaseSQL = `
		INSERT INTO modelarts.source_leases AS l (source, run_id, hostname, pid, acquired_at, expires_at)
		VALUES ($1, NULL, $2, $3, now(), now() + $4::bigint * interval '1 millisecond')
		ON CONFLICT (source) DO UPDATE
		SET run_id = NULL, hostname = excluded.hostname, pid = excluded.pid,
		    acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
		WHERE l.expires_at < now()
		RETURNING true`

	setLeaseRunSQL = `UPDATE modelarts.source_leases SET run_id = $2 WHERE source = $1`

	renewLeaseSQL = `
		UPDATE modelarts.source_leases SET expires_at = now() + $3::bigint * interval '1 millisecond'
		WHERE source = $1 AND run_id = $2`

	dropLeaseSQL = `DELETE FROM modelarts.source_leases WHERE source = $1 AND run_id = $2`

	leaseHolderSQL = `
		SELECT coalesce(l.run_id, 0), coalesce(l.hostname, '?'), coalesce(l.pid, 0), l.acquired_at, l.expires_at
		FROM modelarts.source_leases AS l
		WHERE l.source = $1`

	closeAbandonedSQL = `
		UPDATE modelarts.sync_runs
		SET state = 'failed', finished_at = now(), error = $2
		WHERE source = $1 AND state = 'running'
		RETURNING id`

	insertRunSQL = `
		INSERT INTO modelarts.sync_runs (source, state, hostname, pid, kind)
		VALUES ($1, 'running', $2, $3, $4)
		RETURNING id`
)

// BeginRun starts a run of source: in one transaction it takes the source's lease
// (modelarts.source_leases; an error wrapping ErrSourceBusy, a *BusyError naming the holder, if
// another run in any process holds it), closes as failed any ledger row of the source still
// 'running' (left by a process that stopped, whose lease expired) and records the new run. The
// run's staging table is each connection's (makeStaging); what its walks list is in its memory
// (seen.go).
//
// The run holds no connection between its methods: the lease, renewed every quarter of
// RunOptions.LockLease while the run is alive, is the exclusion. It is held until Finish, which must
// be called.
func (s *Store) BeginRun(ctx context.Context, source string, opts RunOptions) (*Run, error) {
	if source == "" {
		return nil, errors.New("begin run: empty source name")
	}
	lease := cmp.Or(opts.LockLease, DefaultLockLease)
	hostname, _ := os.Hostname()
	var id int64
	var abandoned []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var took bool
		err := tx.QueryRow(ctx, takeLeaseSQL, source, hostname, os.Getpid(), lease.Milliseconds()).Scan(&took)
		if errors.Is(err, pgx.ErrNoRows) {
			return errLeaseHeld
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, closeAbandonedSQL, source, abandonedError)
		if err != nil {
			return err
		}
		if abandoned, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, insertRunSQL, source, hostname, os.Getpid(), cmp.Or(opts.Kind, KindFull)).Scan(&id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, setLeaseRunSQL, source, id)
		return err
	})
	if errors.Is(err, errLeaseHeld) {
		return nil, fmt.Errorf("begin run of %q: %w", source, s.busyError(ctx, source))
	}
	if err != nil {
		return nil, fmt.Errorf("begin run of %q: %w", source, interpretError(err))
	}
	for _, a := range abandoned {
		s.log.Warn("closed a run left running by a process that stopped",
			"source", source, "abandoned_run_id", a)
	}
	r := &Run{
		store:       s,
		id:          id,
		source:      source,
		seenRefresh: cmp.Or(opts.SeenRefresh, DefaultSeenRefresh),
		walk:        1,
		seen:        newSeenSet(0),
		full:        cmp.Or(opts.Kind, KindFull) == KindFull,
		log:         s.log.With("source", source, "run_id", id),
		stopBeat:    make(chan struct{}),
		beatDone:    make(chan struct{}),
		lease:       lease,
		lost:        make(chan struct{}),
	}
	go r.heartbeat(lease)
	return r, nil
}

// errLeaseHeld: takeLeaseSQL found the lease held.
var errLeaseHeld = errors.New("lease held")

// heartbeat renews the run's lease every quarter of it while the run is alive (waiting for the API
// between two pages, or retrying), until Finish. A renewal that fails is tried again at the next
// beat: the lease survives three failed beats. A renewal that finds the lease held by another run
// (this run's expired while it could not reach the database) closes Lost.
func (r *Run) heartbeat(lease time.Duration) {
	defer close(r.beatDone)
	t := time.NewTicker(lease / 4)
	defer t.Stop()
	failing := false
	renewed := time.Now()
	for {
		select {
		case <-r.stopBeat:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lease/4)
		tag, err := r.store.pool.Exec(ctx, renewLeaseSQL, r.source, r.id, lease.Milliseconds())
		cancel()
		switch {
		case err != nil && time.Since(renewed) >= lease:
			r.log.Error("could not renew the source's lease for a whole lease: another run may take the source; stopping",
				"error", interpretError(err), "lock_lease", lease)
			r.endStatement()
			close(r.lost)
			return
		case err != nil:
			if !failing {
				r.log.Warn("could not renew the source's lease; the source is free for another run if this lasts the lease",
					"error", interpretError(err), "lock_lease", lease)
			}
			failing = true
		case tag.RowsAffected() == 0:
			r.log.Error("the source's lease was taken by another run after this run could not renew it; stopping",
				"lock_lease", lease)
			r.endStatement()
			close(r.lost)
			return
		default:
			if failing {
				r.log.Info("the source's lease is renewed again")
			}
			failing = false
			renewed = time.Now()
		}
	}
}

// Lost is closed when the run has lost its lease (it could not renew it for a whole lease, or another
// run took it): the caller should stop the run, whose later writes may race another's. A statement in
// flight then fails at once (watchdog.go).
func (r *Run) Lost() <-chan struct{} { return r.lost }

// hold gives the calling method the run for its duration: the returned function releases the
// connection the method took (see active), if any, back to the pool.
func (r *Run) hold() func() {
	r.mu.Lock()
	return func() {
		if r.conn != nil {
			r.useSocket(nil)
			r.conn.Release()
			r.conn = nil
		}
		r.mu.Unlock()
	}
}

// BusyError says who holds a source's lease (modelarts.source_leases). It matches ErrSourceBusy.
type BusyError struct {
	RunID     int64 // 0: not a run (indexer forget holds it)
	Host      string
	PID       int
	StartedAt time.Time // when the holder took the lease
	ExpiresAt time.Time // when the lease ends unless its holder renews it
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v (run %d on host %s, pid %d, started %s; its lease ends %s unless renewed)",
		ErrSourceBusy, e.RunID, e.Host, e.PID, e.StartedAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrSourceBusy) true.
func (e *BusyError) Unwrap() error { return ErrSourceBusy }

// busyError says who holds the source's lease: a *BusyError, or ErrSourceBusy when it was released
// meanwhile.
func (s *Store) busyError(ctx context.Context, source string) error {
	var e BusyError
	err := s.pool.QueryRow(ctx, leaseHolderSQL, source).Scan(&e.RunID, &e.Host, &e.PID, &e.StartedAt, &e.ExpiresAt)
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
// releases the source's lease. It must be called exactly once per run, also
// after errors; later calls return ErrRunFinished.
//
// If ctx is already done, Finish still records the outcome, within a short timeout of its own. If the
// outcome cannot be recorded (the database unreachable), the lease is kept until it expires and the
// next run of the source closes the row as abandoned; if the lease was taken over meanwhile (this run
// could not renew it), Finish records the outcome and says so. A State that is not final is recorded
// as failed.
func (r *Run) Finish(ctx context.Context, st RunStats) error {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return ErrRunFinished
	}
	r.finished = true
	r.mu.Unlock()
	close(r.stopBeat)
	<-r.beatDone
	defer r.hold()()
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
	}
	if r.known != nil {
		r.known.release()
		r.known = nil
	}
	r.seen.release()
	r.seen = newSeenSet(0)

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

	// The outcome first, then the lease: a run that cannot record its outcome keeps the lease until it
	// expires, and the next run closes its row.
	tag, err := r.store.pool.Exec(ctx, finishRunSQL, args...)
	if err != nil {
		return errors.Join(stateErr, fmt.Errorf("finish run %d: %w", r.id, interpretError(err)))
	}
	if err := r.release(ctx); err != nil {
		return errors.Join(stateErr, fmt.Errorf("finish run %d: %w", r.id, interpretError(err)), r.closedElsewhere(tag.RowsAffected()))
	}
	return errors.Join(stateErr, r.closedElsewhere(tag.RowsAffected()))
}

// closedElsewhere is the error of a Finish whose update found the run's row no longer running: another
// process closed it as abandoned (this one's session had been ended), and its record is kept.
func (r *Run) closedElsewhere(updated int64) error {
	if updated > 0 {
		return nil
	}
	return fmt.Errorf("finish run %d: its ledger row was already closed by another process (as abandoned: this "+
		"run's lease had expired); that record is kept, this outcome is not recorded", r.id)
}

// release deletes the run's lease.
func (r *Run) release(ctx context.Context) error {
	tag, err := r.store.pool.Exec(ctx, dropLeaseSQL, r.source, r.id)
	if err == nil && tag.RowsAffected() == 0 {
		err = errors.New("the source's lease was no longer the run's at finish (it expired and another run took it)")
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

// active returns a connection for the method running, taken from the pool at its first call and
// released by hold's function, or ErrRunFinished. Exported methods that use it call defer r.hold()()
// first.
func (r *Run) active(ctx context.Context) (*pgxpool.Conn, error) {
	if r.finished {
		return nil, ErrRunFinished
	}
	if r.conn == nil {
		conn, err := r.store.pool.Acquire(ctx)
		if err != nil {
			return nil, interpretError(err)
		}
		r.conn = conn
		r.useSocket(conn.Conn().PgConn().Conn())
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
	conn, err := r.active(ctx)
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
