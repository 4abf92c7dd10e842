package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vizjob/indexer/internal/bench"
	"github.com/vizjob/indexer/internal/config"
)

func runBench(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "bench", "bench [flags]\n\n"+
		"Measures the sync end to end against the built-in simulator and a scratch database created (and\n"+
		"dropped) on the PostgreSQL server: the time to fetch every page alone, the floor (fetch + COPY of\n"+
		"the same rows into an empty table), an initial sync, a no-op resync, a resync after --share of\n"+
		"the jobs changed and, with --latency, a no-op resync against a slow simulator; the rows each\n"+
		"writes, its requests and its peak memory. The simulator and the syncs run as child processes of\n"+
		"this binary; the client rate limit is off, except in the quota phase: a walk against a simulator that\n"+
		"answers 429 beyond --quota requests/s, from the default rate limit. Progress goes to stderr, the report to stdout.")
	jobs := fs.Int("jobs", 100_000, "jobs in the simulator")
	runs := fs.Int("runs", 3, "runs of every phase; the report shows medians")
	latency := fs.Duration("latency", 50*time.Millisecond, "latency of every request in the latency phase; 0: skip that phase")
	concurrency := fs.Int("page-concurrency", config.DefaultPageConcurrency, "pages requested at a time by the syncs and the fetch-only walk")
	share := fs.Float64("share", 0.01, "share of the jobs changed before the change phase (half status, half duration)")
	seed := fs.Int64("seed", 1, "seed of the simulator's jobs and of the change")
	quota := fs.Float64("quota", 20, "requests/s the simulator allows per credential in the quota phase, a walk that starts at the\n"+
		"default rate limit and adapts (real time: about --quota-jobs/100/--quota seconds per run); 0: skip that phase")
	quotaJobs := fs.Int("quota-jobs", 100_000, "jobs walked in the quota phase")
	database := fs.String("database-url", "", "PostgreSQL URL of a role that may create databases (env "+config.EnvDatabaseURL+")")
	keep := fs.Bool("keep", false, "keep the scratch databases")
	cpuProfile := fs.String("cpu-profile", "", "directory where each sync process writes a CPU profile (run<n>-<phase>.pprof, for go tool pprof)")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "indexer bench: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	admin := *database
	if admin == "" {
		cfg, err := config.Load(e.getenv)
		if err != nil {
			return configError(e, err)
		}
		admin = cfg.DatabaseURL
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(e.stderr, "indexer bench: cannot find this binary: %v\n", err)
		return exitFailed
	}
	rep, err := bench.Run(ctx, bench.Options{
		Exe: exe, AdminURL: admin, Jobs: *jobs, Runs: *runs, PageConcurrency: *concurrency,
		Latency: *latency, Share: *share, Seed: *seed, Keep: *keep, Progress: e.stderr, Quota: *quota, QuotaJobs: *quotaJobs,
		CPUProfileDir: *cpuProfile,
	})
	if rep == nil {
		fmt.Fprintf(e.stderr, "indexer bench: %v\n", err)
		return exitUsage
	}
	rep.Format(e.stdout)
	if err != nil {
		fmt.Fprintf(e.stderr, "indexer bench: %v\n", err)
		return exitFailed
	}
	return exitOK
}
