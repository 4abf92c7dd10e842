package syncer_test

import (
	"context"
	"testing"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
)

// A job whose create_time is 0 (the API's way of sending none) is stored with a null create_time, not
// 1970-01-01; the other jobs keep theirs.
func TestUnknownCreateTimeIsStoredAsNull(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "no-create-time", simulator.Options{Jobs: 30, Seed: 5}, fetch.AuthAKSK)
	id := s.sim.Jobs()[7].ID
	s.sim.UpdateJob(id, func(j *simulator.JobState) { j.CreateTime = 0 })
	f.mustSync(t, s.client, options(s.name), nil)

	var nulls, epochs int
	var nullID int64
	err := f.db.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE create_time IS NULL), count(*) FILTER (WHERE create_time = 'epoch'),
		       coalesce(min(job_id) FILTER (WHERE create_time IS NULL), 0)
		FROM modelarts.visualization_jobs WHERE source = $1`, s.name).Scan(&nulls, &epochs, &nullID)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != 1 || nullID != id || epochs != 0 {
		t.Errorf("jobs with a null create_time: %d (job %d), at the epoch: %d; want 1 (job %d), 0", nulls, nullID, epochs, id)
	}
}
