package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

func runSync(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "sync", "sync [flags]\n\nOne sync of every configured source, then exit.\n"+
		"Exit codes: 0 every source succeeded; 1 a source failed; 2 usage or configuration error;\n"+
		"3 no source failed but at least one was partial (some jobs may be missing; nothing was wrongly deleted).\n\n"+
		credentialsHelp)
	cf := addConfigFlags(fs, true)
	allowMass := fs.Bool("allow-mass-delete", false, "for this run only, mark jobs deleted even beyond --max-delete-share")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "indexer sync: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	// On a terminal with text logs, a live progress line; otherwise a "sync progress" log line every 10 s.
	var live *liveLine
	logOut := e.stderr
	if isTerminal(e.stderr) && (cfg.LogFormat == "auto" || cfg.LogFormat == "text") {
		live = &liveLine{w: e.stderr}
		logOut = live
	}
	log := newLogger(logOut, cfg.LogLevel, cfg.LogFormat)
	if live != nil {
		log = newLogger(logOut, cfg.LogLevel, "text")
	}
	cf.warn(log)

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		log.Error("cannot open the database", "error", err)
		return exitFailed
	}
	defer st.Close()
	if schemaMissing(ctx, e, st) {
		return exitFailed
	}

	code := exitOK
	for _, src := range cfg.Sources {
		err := syncSource(ctx, cfg, src, st, *allowMass, log, live)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrSourceBusy):
			// Only the indexer's role can hold a source's lease (modelarts.source_leases): the holder is
			// another run of the indexer, or one that died and whose lease has not expired yet.
			args := []any{"source", src.Name}
			var busy *store.BusyError
			if errors.As(err, &busy) {
				args = append(args, "holder_run_id", busy.RunID, "holder_host", busy.Host, "holder_pid", busy.PID,
					"held_since", busy.StartedAt.UTC().Format(time.RFC3339), "lease_ends", busy.ExpiresAt.UTC().Format(time.RFC3339))
			}
			log.Warn("source is being synced by another run of the indexer; skipped", args...)
		case errors.Is(err, syncer.ErrPartial):
			if code == exitOK {
				code = exitPartial
			}
		default:
			code = exitFailed
		}
	}
	return code
}

// credentialsHelp says how a source and its credentials are given (sync --help, run --help).
const credentialsHelp = "A source, from the environment: " + config.EnvProjectID + ", " + config.EnvRegion + " (or --endpoint), and either\n" +
	"  AK/SK (signed requests): " + config.EnvAK + ", " + config.EnvSK + " (" + config.EnvSecurityToken + " for temporary ones), or\n" +
	"  an IAM user (tokens): " + config.EnvUsername + ", " + config.EnvPassword + ", " + config.EnvDomainName + ".\n" +
	"Secrets have no flags (a command line is visible to every user): set the variable, or NAME_FILE to a file\n" +
	"holding it (" + config.EnvSK + "_FILE, " + config.EnvDatabaseURL + "_FILE, ...). Several sources: " + config.EnvConfigFile + "=indexer.yaml\n" +
	"(the file indexer.yaml of the repository is a commented sample). Every variable: docs/configuration.md."

// syncSource runs one sync of one source, as one tick of the daemon does; the syncer logs its outcome.
func syncSource(ctx context.Context, cfg *config.Config, src config.Source, st *store.Store, allowMass bool, log *slog.Logger, live *liveLine) error {
	h := syncer.Hooks{Logger: log, Adjust: func(o *syncer.Options) {
		o.AllowMassDelete = allowMass
		o.AllowMassDeleteSetting = "indexer sync --allow-mass-delete" // this command's flag
	}}
	if live != nil {
		h.Progress = func(p syncer.Progress) { live.set(progressText(p)) }
		defer live.set("")
	}
	r, err := syncer.NewRunner(cfg, src, h)
	if err != nil {
		log.Error("cannot build the ModelArts client", "source", src.Name, "error", err)
		return err
	}
	_, err = r.Run(ctx, st, store.KindFull)
	return err
}

// newClient builds the ModelArts client of one source (indexer probe).
func newClient(cfg *config.Config, src config.Source, log *slog.Logger) (*fetch.Client, error) {
	r, err := syncer.NewRunner(cfg, src, syncer.Hooks{Logger: log})
	if err != nil {
		return nil, err
	}
	return r.Client, nil
}

// schemaMissing says what to do when the database has none of the indexer's tables yet (nothing
// was migrated), and reports it; on any other outcome the run itself says what went wrong.
func schemaMissing(ctx context.Context, e env, st *store.Store) bool {
	present, err := st.SchemaPresent(ctx)
	if err != nil || present {
		return false
	}
	fmt.Fprintf(e.stderr, "indexer %s: the database has none of the indexer's tables yet (relation modelarts.sync_runs does not exist)\n", e.cmd)
	fmt.Fprintf(e.stderr, "hint: run 'indexer migrate up' once with the same database settings, then 'indexer %s' again ('indexer run' migrates at start)\n", e.cmd)
	return true
}
