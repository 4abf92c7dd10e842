package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vizjob/indexer/internal/queue"
	"github.com/vizjob/indexer/internal/store"
)

func runMigrate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "migrate", "migrate up | status | down [flags]\n\n"+
		"  up      apply every pending migration, the indexer's then River's (its job queue, in schema river);\n"+
		"          safe to run from several replicas at once\n"+
		"  status  list migrations and when each was applied, then River's\n"+
		"  down    roll back the most recent migration of the indexer; with none left, River's tables")
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
	if err != nil {
		return err
	}
	river, err := queue.MigrateUp(ctx, st.Pool(), queue.DefaultSchema)
	for _, m := range river {
		fmt.Fprintf(e.stdout, "OK    up   river %03d %s (schema %s)\n", m.Version, m.Name, queue.DefaultSchema)
	}
	if err == nil && len(res) == 0 && len(river) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
	}
	return err
}

func migrateDown(ctx context.Context, e env, st *store.Store) error {
	res, err := st.MigrateDown(ctx)
	if errors.Is(err, store.ErrNothingToRollBack) {
		// The indexer's schema is gone: River's tables go too.
		river, err := queue.MigrateDown(ctx, st.Pool(), queue.DefaultSchema)
		for _, m := range river {
			fmt.Fprintf(e.stdout, "OK    down river %03d %s (schema %s)\n", m.Version, m.Name, queue.DefaultSchema)
		}
		if err == nil && len(river) == 0 {
			fmt.Fprintln(e.stdout, "nothing to roll back")
		}
		return err
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
	if err != nil {
		return err
	}
	river, err := queue.MigrateStatus(ctx, st.Pool(), queue.DefaultSchema)
	for _, m := range river {
		state := "Pending"
		if m.Applied {
			state = "Applied"
		}
		fmt.Fprintf(e.stdout, "%-8s river %03d %s (schema %s)\n", state, m.Version, m.Name, queue.DefaultSchema)
	}
	return err
}
