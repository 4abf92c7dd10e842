package syncer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// The churn run of the README's "Correct under churn", in process: 400 jobs churning at 0.7 mutations
// per list request, ten syncs in a row, none of which may mark deleted a job
// that still exists; then churn stops and one more sync leaves the live
// mirror equal to the simulator.
func TestChurnAcceptance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "acceptance", simulator.Options{Jobs: 400, Seed: 1, Churn: 0.7}, fetch.AuthAKSK)
	m := newModel()
	ctx := context.Background()
	states := map[string]int{}
	var walks, deleted int64
	for i := 1; i <= 10; i++ {
		res, err := f.sync(s.client, options(s.name))
		if err != nil && !errors.Is(err, syncer.ErrPartial) {
			t.Fatalf("sync %d: %v", i, err)
		}
		states[res.State]++
		walks += int64(res.Walks)
		deleted += res.Deleted
		if err := m.check(ctx, f.db, s.name, s.sim.Jobs(), false); err != nil {
			t.Fatalf("after sync %d: %v", i, err)
		}
		t.Logf("sync %2d: %-9s walks %d, pages %2d, seen %3d, inserted %2d, updated %2d, deleted %d",
			i, res.State, res.Walks, res.Pages, res.JobsSeen, res.Inserted, res.Updated, res.Deleted)
	}
	truth := jobIDs(s.sim.Jobs())
	var markedDeleted, falselyDeleted int64
	if err := f.db.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE job_id = ANY ($2::bigint[]))
		FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NOT NULL`, s.name, truth).
		Scan(&markedDeleted, &falselyDeleted); err != nil {
		t.Fatal(err)
	}
	t.Logf("10 syncs under churn: %v, %d walks, %d jobs marked deleted, of which %d exist in the simulator; %+v",
		states, walks, markedDeleted, falselyDeleted, s.sim.ChurnStats())
	if falselyDeleted != 0 || states[store.StateSucceeded] == 0 {
		t.Fatalf("%d false deletions; states %v", falselyDeleted, states)
	}

	s.sim.SetChurn(0)
	res, err := f.sync(s.client, options(s.name))
	if err != nil || res.State != store.StateSucceeded {
		t.Fatalf("sync after churn stopped: %v, %+v", err, res)
	}
	if err := m.check(ctx, f.db, s.name, s.sim.Jobs(), true); err != nil {
		t.Fatal(err)
	}
	t.Logf("churn stopped: one more sync (%s, %d deleted) leaves the mirror equal to the simulator's %d jobs",
		res.State, res.Deleted, len(truth))
}
