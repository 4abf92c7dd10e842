package store

import (
	"log/slog"
	"time"
)

// WriteTimes is where a run's write path spent its time, step by step (UpsertPage), for `indexer
// bench` and the log line "write path" at the end of every run. The steps run one after the other on
// the run's connection while the walk fetches the next pages; what the run spent elsewhere (waiting
// for pages, decoding them, the deletion checks) is the rest of its wall time.
type WriteTimes struct {
	Batches int           // UpsertPage calls that had jobs
	Seen    time.Duration // recording the seen ids, in the run's memory (seen.go)
	Lookup  time.Duration // reading the source's jobs once (known.go), then asking about jobs not decided in memory (stored_fingerprints.sql)
	Prepare time.Duration // fingerprints, the page's plan (plan.go) and the staged rows (staged.go)
	Copy    time.Duration // COPY into the staging table
	Write   time.Duration // the statements from staging into the job and history tables, and the commit
}

func (t WriteTimes) LogValue() slog.Value {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return slog.GroupValue(
		slog.Int("batches", t.Batches),
		slog.Int64("seen_ms", ms(t.Seen)),
		slog.Int64("lookup_ms", ms(t.Lookup)),
		slog.Int64("prepare_ms", ms(t.Prepare)),
		slog.Int64("copy_ms", ms(t.Copy)),
		slog.Int64("write_ms", ms(t.Write)),
	)
}

// WriteTimes returns where the run's write path spent its time so far.
func (r *Run) WriteTimes() WriteTimes { return r.times }

// timed runs step, one step of the write path, and adds the time it took to *d.
func timed(d *time.Duration, step func() error) error {
	start := time.Now()
	err := step()
	*d += time.Since(start)
	return err
}
