package syncer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
)

// Malformed items (fetch.Page.BadItems: not an object, no integer job_id, a field of the wrong type, a
// negative job_id, duration or create_time). The policy:
//
//   - Never guessed into the job tables: the item is skipped, the job keeps its last good state (or has
//     no row yet), and the payload is kept as received in modelarts.bad_items for inspection, with the
//     reason, once per distinct payload (store.Run.RecordBadItems). Each is logged (warn) and counted in
//     sync_runs.bad_items.
//   - An item whose job_id is an integer still counts as seen by the walk: the job is accounted for in
//     the walk's distinct count and is not a deletion candidate. So a job that stays malformed for
//     weeks neither blocks the deletion of other jobs (the walk can still be verified) nor is deleted
//     itself.
//   - An item without a usable job_id could be any job: the walk cannot be verified, so no deletion is
//     marked (ErrPartial after MaxWalks walks).
//   - A run that met malformed items in its verified walk ends partial (exit 3) once its deletions are
//     done: the mirror of those jobs is not current.

// badItems records, logs and counts the malformed items of each walk of a run.
type badItems struct {
	log     *slog.Logger
	record  func(ctx context.Context, rows []store.BadItem) error // keeps them in modelarts.bad_items
	perWalk map[int]int
}

// keep records the malformed items of one page and logs them. It returns how many have no usable
// job_id: those make the walk unverifiable.
func (b *badItems) keep(ctx context.Context, walk int, items []fetch.BadItem) (anonymous int, err error) {
	if len(items) == 0 {
		return 0, nil
	}
	if b.perWalk == nil {
		b.perWalk = make(map[int]int)
	}
	b.perWalk[walk] += len(items)
	rows := make([]store.BadItem, len(items))
	for i, it := range items {
		rows[i] = store.BadItem{JobID: it.JobID, Reason: it.Reason, Raw: it.Raw}
		attrs := []any{"walk", walk, "index", it.Index, "reason", it.Reason, "raw", truncate(string(it.Raw), 512)}
		if it.JobID != nil {
			attrs = append(attrs, "job_id", *it.JobID)
		} else {
			anonymous++
		}
		b.log.Warn("malformed item not mirrored; kept in modelarts.bad_items", attrs...)
	}
	if err := b.record(ctx, rows); err != nil {
		return anonymous, err
	}
	return anonymous, nil
}

// outcome turns a verified walk that met malformed items into ErrPartial. err is what the run would
// otherwise end with: it wins, unless it is nil.
func (b *badItems) outcome(walk int, err error) error {
	n := b.perWalk[walk]
	if err != nil || n == 0 {
		return err
	}
	return fmt.Errorf("%w: %d malformed items were not mirrored (kept in modelarts.bad_items; their jobs keep their last good state)",
		ErrPartial, n)
}
