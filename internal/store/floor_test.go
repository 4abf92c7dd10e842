package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/testdb"
)

// BenchmarkUpsertPage measures UpsertPage with pages of 100 jobs shaped like the API's (about 500
// bytes of raw JSON each): "new" inserts jobs never seen (the first sync), "unchanged" upserts jobs
// stored as they are (a resync: no row written), "changed" changes the status of every job (a row
// rewritten and two history rows written per job). The table holds 10 000 jobs of the source before
// the timer starts. Run it with
//
//	go test -run '^$' -bench UpsertPage -benchtime 500x ./internal/store/
func BenchmarkUpsertPage(b *testing.B) {
	const perPage, preloaded = 100, 10_000
	setup := func(b *testing.B) (*Run, time.Time) {
		b.Helper()
		ctx := context.Background()
		s := migratedStoreLogging(b, nil)
		r, err := s.BeginRun(ctx, "bench", RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Finish(context.Background(), RunStats{State: StateSucceeded}) })
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for first := int64(1); first <= preloaded; first += perPage {
			if _, err := r.UpsertPage(ctx, benchPage(first, perPage, 0), at); err != nil {
				b.Fatal(err)
			}
		}
		return r, at
	}
	run := func(b *testing.B, page func(i int) []Job, want func(PageResult) bool) {
		r, at := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			at = at.Add(time.Second)
			res, err := r.UpsertPage(ctx, page(i), at)
			if err != nil {
				b.Fatal(err)
			}
			if !want(res) {
				b.Fatalf("page %d: %+v", i, res)
			}
		}
		b.ReportMetric(float64(b.N*perPage)/b.Elapsed().Seconds(), "jobs/s")
	}
	b.Run("new", func(b *testing.B) {
		run(b, func(i int) []Job { return benchPage(preloaded+1+int64(i)*perPage, perPage, 0) },
			func(r PageResult) bool { return r.Inserted == perPage })
	})
	b.Run("unchanged", func(b *testing.B) {
		run(b, func(i int) []Job { return benchPage(1+int64(i%(preloaded/perPage))*perPage, perPage, 0) },
			func(r PageResult) bool { return r.Unchanged == perPage })
	})
	b.Run("changed", func(b *testing.B) {
		// Every pass over the preloaded jobs moves them to the next status.
		run(b, func(i int) []Job {
			return benchPage(1+int64(i%(preloaded/perPage))*perPage, perPage, 1+i/(preloaded/perPage))
		}, func(r PageResult) bool { return r.Updated == perPage })
	})
}

// benchPage builds n jobs from id first on, each like one the API serves, with status 10+shift.
func benchPage(first int64, n, shift int) []Job {
	jobs := make([]Job, n)
	for i := range jobs {
		id := first + int64(i)
		j := Job{
			JobID:      id,
			Name:       fmt.Sprintf("tensorboard-resnet50-%06d", id),
			Desc:       "visualization of the training job resnet50 on imagenet, learning rate sweep",
			Status:     10 + shift,
			CreateTime: time.UnixMilli(1_735_689_600_000 + id*60_000).UTC(),
			DurationMS: 3_600_000 + id,
			TrainURL:   fmt.Sprintf("/modelarts-bucket/train/resnet50/run-%06d/logs/", id),
			ResourceID: fmt.Sprintf("0c8a3b7e-%04d-4f6b-9a1d-%012d", id%10000, id),
		}
		if j.Status == 7 || j.Status%2 == 0 {
			j.ServiceURL = fmt.Sprintf("https://console.huaweicloud.com/modelarts/tensorboard/0123456789abcdef/%d/", id)
		}
		j.Raw = fmt.Appendf(nil, `{"job_id":%d,"job_name":%q,"status":%d,"create_time":%d,"duration":%d,"job_desc":%q,"service_url":%q,"train_url":%q,"resource_id":%q,"remaining_duration":null,"flavor":"modelarts.vm.cpu.2u","workspace_id":"0"}`,
			j.JobID, j.Name, j.Status, j.CreateTime.UnixMilli(), j.DurationMS, j.Desc, j.ServiceURL, j.TrainURL, j.ResourceID)
		jobs[i] = j
	}
	return jobs
}

// The floor table: the rows of every page, in one COPY.
func TestBenchFloor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, testdb.NewMigrated(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pages := [][]Job{benchPage(1, 100, 0), benchPage(101, 100, 0), benchPage(201, 37, 0)}
	n, err := s.CopyFloor(ctx, "src", t0, func() ([]Job, error) {
		if len(pages) == 0 {
			return nil, nil
		}
		p := pages[0]
		pages = pages[1:]
		return p, nil
	})
	if err != nil || n != 237 {
		t.Fatalf("CopyFloor = %d, %v", n, err)
	}
	var rows, distinct int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT job_id) FROM public.vizjob_bench_floor WHERE source = 'src' AND raw ? 'job_id'`).Scan(&rows, &distinct); err != nil || rows != 237 || distinct != 237 {
		t.Errorf("floor table holds %d rows (%d jobs), %v; want 237", rows, distinct, err)
	}
	if err := s.DropFloor(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWritePath stores batches of 1000 jobs, as a sync does: into a source with no rows (a first
// sync), and again unchanged (a no-op resync).
func BenchmarkWritePath(b *testing.B) {
	const batch, total = 1000, 20_000
	ctx := context.Background()
	sync := func(b *testing.B, s *Store, at time.Time, want func(PageResult) bool) {
		r, err := s.BeginRun(ctx, "bench", RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for first := int64(1); first <= total; first += batch {
			res, err := r.UpsertPage(ctx, benchPage(first, batch, 0), at)
			if err != nil {
				b.Fatal(err)
			}
			if !want(res) {
				b.Fatalf("batch from %d: %+v", first, res)
			}
		}
		if _, err := r.SeenCount(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("%+v", r.WriteTimes())
		if err := r.Finish(ctx, RunStats{State: StateSucceeded}); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := migratedStoreLogging(b, nil)
			b.StartTimer()
			sync(b, s, at, func(r PageResult) bool { return r.Inserted == batch })
		}
		b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("unchanged", func(b *testing.B) {
		s := migratedStoreLogging(b, nil)
		sync(b, s, at, func(r PageResult) bool { return r.Inserted == batch })
		b.ResetTimer()
		for b.Loop() {
			sync(b, s, at.Add(time.Minute), func(r PageResult) bool { return r.Unchanged == batch })
		}
		b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "jobs/s")
	})
}
