package syncer_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/syncer"
)

// TestSteadyChurnDeletions: on a busy tenant the churn never stops, so few walks are proven
// complete. In every answer the detail call may give for a missing job, six syncs in a row under
// churn that never stops: no job is marked deleted while it exists, and after each sync every job
// the source deleted before the previous sync started is marked deleted.
func TestSteadyChurnDeletions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, notFound := range simulator.NotFoundModes() {
		t.Run(notFound, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := mustSource(t, "steady-"+notFound, simulator.Options{Jobs: 1000, Seed: 11,
				Dialect: simulator.Dialect{NotFound: notFound, CreateSkew: 1500e6}}, fetch.AuthAKSK)
			m := newModel()
			opts := options(s.name)
			s.sim.SetChurn(1.5) // about 16 mutations per walk, 5 of them deletions: never stops
			var starts [][]int64
			partial, verified, deleted := 0, 0, int64(0)
			by := map[string]int{}
			for k := range 6 {
				starts = append(starts, jobIDs(s.sim.Jobs()))
				res, err := f.sync(s.client, opts)
				switch {
				case err == nil:
				case errors.Is(err, syncer.ErrPartial):
					partial++
				default:
					t.Fatalf("sync %d: %v", k+1, err)
				}
				if res.Verified {
					verified++
				}
				deleted += res.Deleted
				for e, n := range res.DeletedBy {
					by[e] += n
				}
				// No false deletion, history invariants (the source moved on since the sync: compare
				// with what it holds now, which only has fewer of the jobs the sync saw alive).
				if err := m.check(ctx, f.db, s.name, s.sim.Jobs(), false); err != nil {
					t.Fatalf("after sync %d: %v", k+1, err)
				}
				if k == 0 || len(starts[k-1]) == 0 {
					continue
				}
				before := starts[k-1] // the source's jobs when the previous sync started
				live, err := liveIDs(ctx, f.db, s.name)
				if err != nil {
					t.Fatal(err)
				}
				var missed []int64
				for _, id := range live {
					if _, ok := slices.BinarySearch(before, id); !ok && id <= before[len(before)-1] {
						missed = append(missed, id) // existed, then was deleted before sync k started
					}
				}
				if len(missed) > 0 {
					t.Errorf("after sync %d: %d jobs deleted before sync %d started are still live: %v", k+1, len(missed), k, missed)
				}
			}
			churn := s.sim.ChurnStats()
			t.Logf("%s: 6 syncs under steady churn (%d created, %d deleted, %d status changes): %d partial, %d with a verified walk; "+
				"%d jobs marked deleted (detail %d, search %d, listing %d); no false deletion",
				notFound, churn.Created, churn.Deleted, churn.StatusChanged, partial, verified, deleted,
				by[syncer.ByDetail], by[syncer.BySearch], by[syncer.ByListing])
			if deleted == 0 {
				t.Errorf("no deletion mirrored in %s mode", notFound)
			}
		})
	}
}
