package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vizjob/indexer/internal/store"
)

func runMigrate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "migrate", "migrate up | status | down [flags]\n\n"+
		"  up      apply every pending migration (safe to run from several replicas at once)\n"+
		"  status  list migrations and when each was applied\n"+
		"  down    roll back the most recent migration")
	cf := addConfigFlags(fs, false)
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "indexer migrate: say up, status or down (indexer migrate --help)")
		return exitUsage
	}
	action := fs.Arg(0)
	if action != "up" && action != "status" && action != "down" {
		fmt.Fprintf(e.stderr, "indexer migrate: unknown action %q: use up, status or down\n", action)
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	log := configLogger(e.stderr, cfg)
	cf.warn(log)
	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		log.Error("cannot open the database", "error", err)
		return exitFailed
	}
	defer st.Close()

	switch action {
	case "up":
		err = migrateUp(ctx, e, st)
	case "down":
		err = migrateDown(ctx, e, st)
	case "status":
		err = migrateStatus(ctx, e, st)
	}
	if err != nil {
		log.Error("migrate "+action+" failed", "error", err)
		return exitFailed
	}
	return exitOK
}

func migrateUp(ctx context.Context, e env, st *store.Store) error {
	res, err := st.MigrateUp(ctx)
	for _, r := range res {
		fmt.Fprintln(e.stdout, r)
	}
	if err == nil && len(res) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
	}
	return err
}

func migrateDown(ctx context.Context, e env, st *store.Store) error {
	res, err := st.MigrateDown(ctx)
	if errors.Is(err, store.ErrNothingToRollBack) {
		fmt.Fprintln(e.stdout, "nothing to roll back")
		return nil
	}
	if err == nil {
		fmt.Fprintln(e.stdout, res)
	}
	return err
}

func migrateStatus(ctx context.Context, e env, st *store.Store) error {
	list, err := st.MigrateStatus(ctx)
	for _, m := range list {
		fmt.Fprintln(e.stdout, m)
	}
	return err
}
