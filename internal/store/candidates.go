package store

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/textcap"
)

// Candidate is a live job of the mirror that a run did not see, waiting in modelarts.deletion_candidates
// for the service's word on it.
type Candidate struct {
	JobID       int64
	Name        string
	WalksMissed int       // walks that did not list it since it became a candidate, this run's included
	Since       time.Time // first_missed_at
}

// Outcomes of a check of a candidate (CandidateCheck.Outcome).
const (
	CheckAlive   = "alive"   // the service showed the job: it leaves the queue (the caller upserted it)
	CheckGone    = "gone"    // the service said it does not exist: MarkDeleted takes it off the queue
	CheckUnknown = "unknown" // no conclusive answer: it stays, and is checked again after the others
)

// CandidateCheck records what one check of a candidate found.
type CandidateCheck struct {
	JobID   int64
	Outcome string // one of the Check* constants
	Answer  string // for CheckUnknown: why the answer was not conclusive (stored, capped)
}

//go:embed sql/refresh_candidates.sql
var refreshCandidatesSQL string

const (
	candidatesToCheckSQL = `
		SELECT c.job_id, j.job_name, c.walks_missed, c.first_missed_at
		FROM modelarts.deletion_candidates AS c
		JOIN modelarts.visualization_jobs AS j USING (source, job_id)
		WHERE c.source = $1::text AND j.deleted_at IS NULL
		ORDER BY c.last_checked_at NULLS FIRST, c.first_missed_at, c.job_id
		LIMIT $2::bigint`

	candidateAliveSQL = `
		DELETE FROM modelarts.deletion_candidates
		WHERE source = $1::text AND job_id = ANY ($2::bigint[])`

	candidateUnknownSQL = `
		UPDATE modelarts.deletion_candidates AS c
		SET checks = c.checks + 1, last_checked_at = $2::timestamptz, last_answer = u.answer
		FROM unnest($3::bigint[], $4::text[]) AS u(job_id, answer)
		WHERE c.source = $1::text AND c.job_id = u.job_id`

	pendingCandidatesSQL = `
		SELECT source, count(*), min(first_missed_at)
		FROM modelarts.deletion_candidates
		WHERE source = ANY ($1::text[])
		GROUP BY source`
)

// maxAnswerBytes caps the answer stored with an inconclusive check.
const maxAnswerBytes = 500

// RefreshCandidates, called after the last walk of the run, makes the queue of deletion candidates
// the live jobs of the source that the last walk did not list, and returns how many there are.
func (r *Run) RefreshCandidates(ctx context.Context, now time.Time) (int64, error) {
	return r.countSeen(ctx, "refresh deletion candidates", refreshCandidatesSQL, func() ([]any, int64) {
		ids, walks := []int64{}, []int32{}
		if r.known != nil {
			ids, walks = r.known.missed(r.walk)
		}
		return []any{r.source, now, r.id, r.walk, ids, walks, r.known != nil}, 0
	})
}

// CandidatesToCheck returns up to limit candidates of the source: never checked first, then the least
// recently checked, so that no candidate waits for ever behind one the service never settles.
func (r *Run) CandidatesToCheck(ctx context.Context, limit int) ([]Candidate, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, candidatesToCheckSQL, r.source, limit)
	if err != nil {
		return nil, fmt.Errorf("list deletion candidates: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Candidate])
	if err != nil {
		return nil, fmt.Errorf("list deletion candidates: %w", interpretError(err))
	}
	return out, nil
}

// RecordChecks stores what checks of candidates found: alive ones leave the queue, inconclusive ones
// are stamped with the time and the answer. (Gone ones leave it through MarkDeleted.)
func (r *Run) RecordChecks(ctx context.Context, now time.Time, checks []CandidateCheck) error {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return err
	}
	var alive, unknown []int64
	var answers []string
	for _, c := range checks {
		switch c.Outcome {
		case CheckAlive:
			alive = append(alive, c.JobID)
		case CheckUnknown:
			unknown = append(unknown, c.JobID)
			answers = append(answers, storableText(textcap.Clean(c.Answer, maxAnswerBytes)))
		}
	}
	b := &pgx.Batch{}
	if len(alive) > 0 {
		b.Queue(candidateAliveSQL, r.source, alive)
	}
	if len(unknown) > 0 {
		b.Queue(candidateUnknownSQL, r.source, now, unknown, answers)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record deletion checks: %w", interpretError(err))
	}
	return nil
}

// PendingCandidates is the queue of deletion candidates of one source.
type PendingCandidates struct {
	Source string
	Count  int64
	Oldest time.Time // first_missed_at of the candidate waiting longest
}

// PendingCandidates returns, for each of sources that has any, how many candidates wait and since when.
func (s *Store) PendingCandidates(ctx context.Context, sources []string) ([]PendingCandidates, error) {
	rows, err := s.pool.Query(ctx, pendingCandidatesSQL, sources)
	if err != nil {
		return nil, fmt.Errorf("pending deletion candidates: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PendingCandidates])
	if err != nil {
		return nil, fmt.Errorf("pending deletion candidates: %w", interpretError(err))
	}
	return out, nil
}
