package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// catalogWrites is the rows inserted and deleted so far in each system catalog of the database url
// names (pg_stat_sys_tables) that has any, shared catalogs left out. The sessions that wrote must have ended: a session reports
// its counts when it ends at the latest.
func catalogWrites(tb testing.TB, url string) map[string]int64 {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	// Shared catalogs (pg_database, pg_shdepend...) are the whole server's: other databases' work.
	const q = `SELECT s.relname, s.n_tup_ins + s.n_tup_del
		FROM pg_stat_sys_tables AS s JOIN pg_class AS c ON c.oid = s.relid
		WHERE s.schemaname = 'pg_catalog' AND NOT c.relisshared AND s.n_tup_ins + s.n_tup_del > 0`
	// The counts of sessions that just ended may reach the statistics a moment later.
	var prev, all int64 = -1, 0
	var rows map[string]int64
	for range 50 {
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			tb.Fatal(err)
		}
		r, err := conn.Query(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		rows, all = map[string]int64{}, 0
		var name string
		var n int64
		if _, err := pgx.ForEachRow(r, []any{&name, &n}, func() error {
			rows[name], all = n, all+n
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
		if all == prev {
			break
		}
		prev = all
		time.Sleep(200 * time.Millisecond)
	}
	return rows
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
	before := catalogWrites(b, url)
	if s, err = Open(ctx, poolURL, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		run(i + 1)
	}
	b.StopTimer()
	s.Close()
	var all, classAttrType int64
	for name, n := range catalogWrites(b, url) {
		if d := n - before[name]; d != 0 {
			b.Logf("%s: %d rows inserted or deleted", name, d)
			all += d
			if name == "pg_class" || name == "pg_attribute" || name == "pg_type" {
				classAttrType += d
			}
		}
	}
	b.ReportMetric(float64(all)/float64(b.N), "catalog_rows/run")
	b.ReportMetric(float64(classAttrType)/float64(b.N), "class_attr_type_rows/run")
}
