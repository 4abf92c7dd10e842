package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// catalogWrites is the rows inserted and deleted so far in the system catalogs of the database url
// names (pg_stat_sys_tables), all of them and those of pg_class, pg_attribute and pg_type. The
// sessions that wrote must have ended: a session reports its counts when it ends at the latest.
func catalogWrites(tb testing.TB, url string) (all, classAttrType int64) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	const q = `SELECT coalesce(sum(n_tup_ins + n_tup_del), 0)::bigint,
		coalesce(sum(n_tup_ins + n_tup_del) FILTER (WHERE relname IN ('pg_class', 'pg_attribute', 'pg_type')), 0)::bigint
		FROM pg_stat_sys_tables WHERE schemaname = 'pg_catalog'`
	// The counts of sessions that just ended may reach the statistics a moment later.
	var prev int64 = -1
	for range 50 {
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			tb.Fatal(err)
		}
		if err := conn.QueryRow(ctx, q).Scan(&all, &classAttrType); err != nil {
			tb.Fatal(err)
		}
		if all == prev {
			break
		}
		prev = all
		time.Sleep(200 * time.Millisecond)
	}
	return all, classAttrType
}

// BenchmarkRunCatalogWrites runs b.N small runs (a page of 10 jobs, the seen count, the deletion
// candidates) through a pool of 4 connections and reports the catalog rows they wrote per run.
// Run it with
//
//	go test -run '^$' -bench RunCatalogWrites -benchtime 1000x ./internal/store/
func BenchmarkRunCatalogWrites(b *testing.B) {
	ctx := context.Background()
	url := testdb.NewMigrated(b)
	poolURL := url + "&pool_max_conns=4"
	s, err := Open(ctx, poolURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(i int) {
		r, err := s.BeginRun(ctx, "bench", RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.UpsertPage(ctx, benchPage(1, 10, i%3), at.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
		if _, err := r.SeenCount(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := r.RefreshCandidates(ctx, at); err != nil {
			b.Fatal(err)
		}
		if err := r.Finish(ctx, RunStats{State: StateSucceeded}); err != nil {
			b.Fatal(err)
		}
	}
	run(0) // the source's first sync, and the pool's first connection
	s.Close()
	all0, cat0 := catalogWrites(b, url)
	if s, err = Open(ctx, poolURL, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		run(i + 1)
	}
	b.StopTimer()
	s.Close()
	all1, cat1 := catalogWrites(b, url)
	b.ReportMetric(float64(all1-all0)/float64(b.N), "catalog_rows/run")
	b.ReportMetric(float64(cat1-cat0)/float64(b.N), "class_attr_type_rows/run")
}
