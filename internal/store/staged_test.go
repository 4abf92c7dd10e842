package store

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vizjob/indexer/internal/testdb"
)

// stagedColumns, the staging table (create_run_tables.sql) and insert_new_jobs.sql's arrays agree,
// column by column: a column added to one and not the others fails here.
func TestStagedColumnsMatchTheStatements(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if err := makeStaging(ctx, conn.Conn()); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
		SELECT attname, format_type(atttypid, atttypmod)
		FROM pg_attribute
		WHERE attrelid = 'pg_temp.vizjob_staging'::regclass AND attnum > 0 AND NOT attisdropped
		ORDER BY attnum`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ name, sqlType string }
	table, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.name, &c.sqlType)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != len(stagedColumns) {
		t.Errorf("the staging table has %d columns, stagedColumns %d", len(table), len(stagedColumns))
	}
	for i := range min(len(table), len(stagedColumns)) {
		if c := stagedColumns[i]; table[i] != (col{c.name, c.sqlType}) {
			t.Errorf("column %d: the staging table's is %s %s, stagedColumns' %s %s", i+1, table[i].name, table[i].sqlType, c.name, c.sqlType)
		}
	}

	// insert_new_jobs.sql: $1 source, $2 observed_at, $3 run id, then one array per column.
	sd, err := conn.Conn().Prepare(ctx, "", insertNewJobsSQL)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.ParamOIDs) != 3+len(stagedColumns) {
		t.Fatalf("insert_new_jobs.sql takes %d parameters, want 3 and one per staged column (%d)", len(sd.ParamOIDs), len(stagedColumns))
	}
	m := pgtype.NewMap()
	for i, c := range stagedColumns {
		want := c.sqlType + "[]"
		switch c.sqlType {
		case "jsonb":
			want = "text[]" // raw passes as text
		case "timestamp with time zone":
			want = "timestamptz[]"
		}
		typ, ok := m.TypeForOID(sd.ParamOIDs[3+i])
		if !ok || typ.Name != map[string]string{"bigint[]": "_int8", "text[]": "_text", "integer[]": "_int4", "timestamptz[]": "_timestamptz", "bytea[]": "_bytea"}[want] {
			t.Errorf("insert_new_jobs.sql's $%d is %v, want %s for %s", 4+i, typ, want, c.name)
		}
	}
}

// A run neither creates nor drops a table: the staging table is the connection's, made by the first
// run that writes through it, and the catalogs are left alone by the runs that follow. A connection
// that only reads has none.
func TestRunsKeepTheConnectionsStagingTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, testdb.NewMigrated(t)+"&pool_max_conns=1", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// The staging table's oid, and how many relations (tables, indexes, TOAST) the session's temporary
	// schema holds.
	staging := func() (oid uint32, relations int64) {
		t.Helper()
		err := s.pool.QueryRow(ctx, `SELECT 'pg_temp.vizjob_staging'::regclass::oid,
			(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())`).Scan(&oid, &relations)
		if err != nil {
			t.Fatalf("the connection has no staging table: %v", err)
		}
		return oid, relations
	}
	if n := queryInt(t, s, `SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()`); n != 0 {
		t.Errorf("a connection that only read has %d temporary relations, want none", n)
	}
	var before uint32
	var relations int64
	for i := range 3 {
		r := beginRun(t, s, "src", RunOptions{})
		upsert(t, r, t0.Add(time.Duration(i)*time.Minute), job(1, "a", 8+i, 1000), job(2, "b", 8, 1000))
		if _, err := r.RefreshCandidates(ctx, t0); err != nil {
			t.Fatal(err)
		}
		finish(t, r, RunStats{State: StateSucceeded})
		if i == 0 {
			before, relations = staging()
		}
	}
	if after, n := staging(); after != before || n != relations {
		t.Errorf("runs made tables: the staging table's oid was %d, then %d; the session had %d temporary relations, then %d",
			before, after, relations, n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM pg_temp.vizjob_staging`); n != 0 {
		t.Errorf("the staging table holds %d rows between runs, want 0", n)
	}
}
