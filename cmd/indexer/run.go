package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/daemon"
	"github.com/vizjob/indexer/internal/statuspage"
	"github.com/vizjob/indexer/internal/store"
)

func runRun(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "run", "run [flags]\n\n"+
		"The daemon: applies pending migrations, then syncs every configured source on its cron schedule\n"+
		"(--schedule or "+config.EnvSchedule+", or schedule: per source in the "+config.EnvConfigFile+" file) and serves\n"+
		"the status page at / and /healthz, /readyz and /metrics. Replicas on one database share the\n"+
		"sources: a source is never synced by two at once. SIGINT or SIGTERM: runs in flight may finish within --grace, then are cancelled and\n"+
		"recorded as failed (\"interrupted by shutdown\"); exit 0. A second signal exits at once.\n\n"+credentialsHelp)
	cf := addConfigFlags(fs, true)
	addDaemonFlags(cf)
	noMigrate := fs.Bool("no-migrate", false, "do not apply pending migrations at start (/readyz answers 503 until they are applied)")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "indexer run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	log := configLogger(e.stderr, cfg)
	cf.warn(log)
	return serve(ctx, cfg, log, daemon.Options{Logger: log, Migrate: !*noMigrate})
}

// serve opens the database, runs the daemon until ctx is done, then closes the pool, last.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, opts daemon.Options) int {
	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		log.Error("cannot open the database", "error", err)
		return exitFailed
	}
	defer st.Close()
	if opts.Index == nil {
		opts.Index = statuspage.New(st, log)
	}
	d, err := daemon.New(cfg, st, opts)
	if err != nil {
		log.Error("cannot start the daemon", "error", err)
		return exitFailed
	}
	if err := d.Run(ctx); err != nil {
		log.Error("daemon failed", "error", err)
		return exitFailed
	}
	return exitOK
}
