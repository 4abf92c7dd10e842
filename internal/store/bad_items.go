package store

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// BadItem is an item of the list API that could not be decoded. It is kept in modelarts.bad_items as
// received and never reaches visualization_jobs.
type BadItem struct {
	JobID  *int64 // the item's job_id when it is a usable integer, else nil
	Reason string // why it could not be decoded
	Raw    []byte // the item exactly as received
}

const (
	markBadSeenSQL = `
		INSERT INTO modelarts.run_seen AS s (run_id, job_id, walk)
		SELECT $3::bigint, id, $2::integer FROM unnest($1::bigint[]) AS id
		ON CONFLICT (run_id, job_id) DO UPDATE SET walk = excluded.walk WHERE s.walk <> excluded.walk`
)

// RecordBadItems keeps items in modelarts.bad_items, one row per distinct payload and source (a payload
// met again gets its last_seen_at, last_sync_run_id and runs updated, once per run), and counts each item
// that has a JobID as seen by the current walk: such a job is accounted for in the walk's distinct
// count and is not a deletion candidate, yet its row in visualization_jobs keeps its last good state.
// Both happen in one transaction, at seenAt.
func (r *Run) RecordBadItems(ctx context.Context, items []BadItem, seenAt time.Time) error {
	defer r.hold()() // not while the heartbeat uses the connection
	conn, err := r.active(ctx)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	if err := r.startWrites(ctx, conn, seenAt.Add(-r.seenRefresh)); err != nil {
		return fmt.Errorf("record %d malformed items: %w", len(items), err)
	}
	var (
		shas, reasons, raws []string
		jobIDs              []*int64
		seen                []int64 // to the seen table
		known               []int   // jobs the run knew from its start (known.go)
		sums                = make(map[string]bool, len(items))
		ids                 = make(map[int64]bool, len(items))
	)
	for _, it := range items {
		if it.JobID != nil && !ids[*it.JobID] {
			ids[*it.JobID] = true
			if k := r.knownIndex(*it.JobID); k >= 0 {
				known = append(known, k)
			} else {
				seen = append(seen, *it.JobID)
			}
		}
		sum := sha256.Sum256(it.Raw)
		sha := hex.EncodeToString(sum[:])
		if sums[sha] {
			continue
		}
		sums[sha] = true
		shas = append(shas, sha)
		jobIDs = append(jobIDs, it.JobID)
		reasons = append(reasons, storableUTF8(it.Reason))
		raws = append(raws, storableUTF8(string(it.Raw)))
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, recordBadItemsSQL, r.source, seenAt, r.id, shas, jobIDs, reasons, raws); err != nil {
			return err
		}
		if len(seen) > 0 {
			if _, err := tx.Exec(ctx, markBadSeenSQL, seen, r.walk, r.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d malformed items: %w", len(items), interpretError(err))
	}
	for _, k := range known {
		r.known.see(r.walk, k)
	}
	return nil
}

// storableUTF8 makes s storable in a text column: invalid UTF-8 becomes U+FFFD and NUL characters,
// which PostgreSQL text cannot hold, are removed.
func storableUTF8(s string) string {
	return storableText(strings.ToValidUTF8(s, "\uFFFD"))
}

//go:embed sql/record_bad_items.sql
var recordBadItemsSQL string
