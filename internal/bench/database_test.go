package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/internal/testdb"
)

// The rows a command writes, as writes reads them once its sessions are gone, and the ledger's last run.
func TestDatabaseWritesAndLastRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := testdb.NewMigrated(t)
	benchURL, err := pgadmin.WithApplicationName(url, "vizjob-bench-test")
	if err != nil {
		t.Fatal(err)
	}
	session, err := pgadmin.Connect(ctx, benchURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = session.Close(context.Background()) })
	db := database{session}
	before, err := db.writes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := store.Open(ctx, url, nil) // another program: its own application_name
	if err != nil {
		t.Fatal(err)
	}
	r, err := writer.BeginRun(ctx, "src", store.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, page := range [][]store.Job{jobs(1, 250, 0), jobs(1, 10, 1), jobs(1, 250, 1)} { // 10 status changes
		if _, err := r.UpsertPage(ctx, page, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(ctx, store.RunStats{State: store.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	writer.Close() // its sessions end and flush their counters
	after, err := db.writes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 250 new jobs, 10 changed (the 240 others on the last page too): every job rewritten once more, and
	// each change closes a version and opens one.
	want := Writes{Jobs: TableWrites{Inserted: 250, Updated: 250}, History: TableWrites{Inserted: 500, Updated: 250}}
	if got := after.Sub(before); got != want {
		t.Errorf("writes %+v, want %+v", got, want)
	}
	if st, err := db.lastRun(ctx, "src"); err != nil || st.State != store.StateSucceeded {
		t.Errorf("lastRun = %+v, %v", st, err)
	}
	if err := db.settle(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := session.ServerVersion(ctx); err != nil || v == "" {
		t.Errorf("ServerVersion = %q, %v", v, err)
	}
}

// jobs builds n jobs from id first on, with status 10+shift.
func jobs(first int64, n, shift int) []store.Job {
	out := make([]store.Job, n)
	for i := range out {
		id := first + int64(i)
		j := store.Job{JobID: id, Name: fmt.Sprintf("job-%06d", id), Status: 10 + shift,
			CreateTime: time.UnixMilli(1_735_689_600_000 + id*60_000).UTC(), DurationMS: 3_600_000 + id}
		j.Raw = fmt.Appendf(nil, `{"job_id":%d,"job_name":%q,"status":%d,"create_time":%d,"duration":%d}`,
			j.JobID, j.Name, j.Status, j.CreateTime.UnixMilli(), j.DurationMS)
		out[i] = j
	}
	return out
}
