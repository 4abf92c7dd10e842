package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// What a head walk needs from the mirror: where change is likely.

// ActiveStatus is a status that is not final, with the live jobs the mirror holds in it.
type ActiveStatus struct {
	Status int
	Jobs   int64
}

const (
	// Unknown codes count as not final: nothing says they are.
	activeStatusesSQL = `
		SELECT j.status, count(*)
		FROM modelarts.visualization_jobs AS j
		LEFT JOIN modelarts.job_statuses AS st ON st.code = j.status
		WHERE j.source = $1::text AND j.deleted_at IS NULL AND NOT coalesce(st.is_final, false)
		GROUP BY j.status
		ORDER BY j.status`

	activeJobIDsSQL = `
		SELECT j.job_id
		FROM modelarts.visualization_jobs AS j
		WHERE j.source = $1::text AND j.deleted_at IS NULL AND j.status = $2::integer
		ORDER BY j.job_id`

	newestCreateTimeSQL = `
		SELECT max(create_time) FROM modelarts.visualization_jobs WHERE source = $1::text`
)

// ActiveStatuses lists the statuses that are not final in which the mirror holds live jobs of the
// source, with how many.
func (r *Run) ActiveStatuses(ctx context.Context) ([]ActiveStatus, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, activeStatusesSQL, r.source)
	if err != nil {
		return nil, fmt.Errorf("active statuses: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ActiveStatus])
	if err != nil {
		return nil, fmt.Errorf("active statuses: %w", interpretError(err))
	}
	return out, nil
}

// JobIDsInStatus lists the live jobs of the source that the mirror holds in status.
func (r *Run) JobIDsInStatus(ctx context.Context, status int) ([]int64, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, activeJobIDsSQL, r.source, status)
	if err != nil {
		return nil, fmt.Errorf("jobs in status %d: %w", status, interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("jobs in status %d: %w", status, interpretError(err))
	}
	return out, nil
}

// NewestCreateTime is the latest create_time of any job of the source the mirror holds; zero when
// none.
func (r *Run) NewestCreateTime(ctx context.Context) (time.Time, error) {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var t *time.Time
	if err := conn.QueryRow(ctx, newestCreateTimeSQL, r.source).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("newest create_time: %w", interpretError(err))
	}
	if t == nil {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}
