package store

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The rows the write path sends: one stagedJob per job to write, typed, as river's
// riverdriver.JobInsertFastParams are. They reach the database two ways, both derived from
// stagedColumns: COPYed into the staging table (create_run_tables.sql), or, in a first sync, as one
// array per column unnested by insert_new_jobs.sql.
//
// A new column of visualization_jobs that comes from the API: a field of Job (and its line in
// fingerprint), then a field here, which the compiler makes stage fill (its literal names no field),
// then its row in stagedColumns, the staging table's column (TestStagedColumnsMatchTheStatements
// compares both with the table and insert_new_jobs.sql's arrays), and the statements that store it.

// stagedJob is one job as the write path stores it: a row of the staging table.
type stagedJob struct {
	JobID      int64
	Name       string
	Desc       string
	Status     int32
	CreateTime *time.Time // nil: null
	DurationMS int64
	ServiceURL string
	TrainURL   string
	ResourceID *string // nil: null
	Raw        string  // JSON that jsonb accepts
	Sum        []byte  // content_sha256: Job.fingerprint
	Remaining  *int64  // remaining_duration_ms; nil: null
}

// stage makes job storable (see UpsertPage: NULs removed, Raw re-encoded if jsonb needs it) as the
// row of the staging table, with its fingerprint sum.
func stage(j Job, sum []byte) (stagedJob, error) {
	raw, err := storableJSON(j.Raw)
	if err != nil {
		return stagedJob{}, fmt.Errorf("job %d: %w", j.JobID, err)
	}
	var createTime *time.Time
	if !j.CreateTime.IsZero() {
		createTime = &j.CreateTime
	}
	var resourceID *string
	if id := storableText(j.ResourceID); id != "" {
		resourceID = &id
	}
	// Unkeyed on purpose: a new field of stagedJob does not compile until it is filled here.
	return stagedJob{
		j.JobID, storableText(j.Name), storableText(j.Desc), int32(j.Status), createTime, j.DurationMS,
		storableText(j.ServiceURL), storableText(j.TrainURL), resourceID, string(raw), sum,
		j.RemainingDurationMS,
	}, nil
}

// stagedColumn is one column of the staging table: its name, its type, and its value in a row.
type stagedColumn struct {
	name    string
	sqlType string                // as format_type spells it
	value   func(*stagedJob) any  // for COPY
	array   func([]stagedJob) any // a typed slice of the column, for insert_new_jobs.sql's unnest
}

// column describes a column of type T read from a row by get.
func column[T any](name, sqlType string, get func(*stagedJob) T) stagedColumn {
	return stagedColumn{
		name:    name,
		sqlType: sqlType,
		value:   func(s *stagedJob) any { return get(s) },
		array: func(rows []stagedJob) any {
			a := make([]T, len(rows))
			for i := range rows {
				a[i] = get(&rows[i])
			}
			return a
		},
	}
}

// stagedColumns are the staging table's columns in its order, and insert_new_jobs.sql's arrays in
// theirs ($4 on).
var stagedColumns = []stagedColumn{
	column("job_id", "bigint", func(s *stagedJob) int64 { return s.JobID }),
	column("job_name", "text", func(s *stagedJob) string { return s.Name }),
	column("job_desc", "text", func(s *stagedJob) string { return s.Desc }),
	column("status", "integer", func(s *stagedJob) int32 { return s.Status }),
	column("create_time", "timestamp with time zone", func(s *stagedJob) *time.Time { return s.CreateTime }),
	column("duration_ms", "bigint", func(s *stagedJob) int64 { return s.DurationMS }),
	column("service_url", "text", func(s *stagedJob) string { return s.ServiceURL }),
	column("train_url", "text", func(s *stagedJob) string { return s.TrainURL }),
	column("resource_id", "text", func(s *stagedJob) *string { return s.ResourceID }),
	column("raw", "jsonb", func(s *stagedJob) string { return s.Raw }),
	column("content_sha256", "bytea", func(s *stagedJob) []byte { return s.Sum }),
	column("remaining_duration_ms", "bigint", func(s *stagedJob) *int64 { return s.Remaining }),
}

// stagedColumnNames are the names of stagedColumns, in order.
func stagedColumnNames() []string {
	names := make([]string, len(stagedColumns))
	for i, c := range stagedColumns {
		names[i] = c.name
	}
	return names
}

var stagingTable = pgx.Identifier{"pg_temp", "vizjob_staging"}

//go:embed sql/create_run_tables.sql
var createRunTablesSQL string

// stagingMade is the key of a connection's CustomData that says it has made its staging table.
const stagingMade = "vizjob_staging"

// makeStaging makes the connection's staging table (create_run_tables.sql) the first time a run
// writes through it. The table stays for the session's life, emptied at every commit: runs neither
// create nor drop tables, and connections that only read (the status page, metrics) have none.
func makeStaging(ctx context.Context, conn *pgx.Conn) error {
	data := conn.PgConn().CustomData()
	if data[stagingMade] != nil {
		return nil
	}
	if _, err := conn.Exec(ctx, createRunTablesSQL); err != nil {
		return fmt.Errorf("create the staging table: %w", err)
	}
	data[stagingMade] = true
	return nil
}

// copyRow is row's values in the order of stagedColumns, after those of before.
func copyRow(row *stagedJob, before ...any) []any {
	v := make([]any, 0, len(before)+len(stagedColumns))
	v = append(v, before...)
	for _, c := range stagedColumns {
		v = append(v, c.value(row))
	}
	return v
}

// copyStaged COPYs rows into the staging table.
func copyStaged(ctx context.Context, tx pgx.Tx, rows []stagedJob) error {
	_, err := tx.CopyFrom(ctx, stagingTable, stagedColumnNames(), pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return copyRow(&rows[i]), nil
	}))
	if err != nil {
		return fmt.Errorf("copy to staging: %w", err)
	}
	return nil
}

// arrays are rows as one typed slice per column, in the order of stagedColumns.
func arrays(rows []stagedJob) []any {
	a := make([]any, len(stagedColumns))
	for i, c := range stagedColumns {
		a[i] = c.array(rows)
	}
	return a
}

// rowBytes is the weight of the text and JSON of rows.
func rowBytes(rows []stagedJob) int {
	n := 0
	for _, r := range rows {
		n += len(r.Name) + len(r.Desc) + len(r.ServiceURL) + len(r.TrainURL) + len(r.Raw)
	}
	return n
}

// without returns the rows whose job id is not in ids.
func without(rows []stagedJob, ids []int64) []stagedJob {
	done := make(map[int64]bool, len(ids))
	for _, id := range ids {
		done[id] = true
	}
	var out []stagedJob
	for _, r := range rows {
		if !done[r.JobID] {
			out = append(out, r)
		}
	}
	return out
}
