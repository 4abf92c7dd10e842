package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vizjob/indexer/internal/store"
)

// runForgetSource deletes everything the database holds of one source: a
// source added by mistake (a mistyped project id) otherwise stays on the
// status page and in sync_health for ever.
func runForgetSource(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "forget-source", "forget-source [--yes] SOURCE\n\n"+
		"Deletes every row of one source from the database: its jobs, their history, its deletion candidates,\n"+
		"its bad items and its runs in sync_runs (so it leaves the status page and sync_health). It says what\n"+
		"it will delete and asks you to type the source's name, unless --yes is given. It refuses while a run of\n"+
		"the source is in progress. A source still configured comes back at its next sync, from scratch.\n"+
		"Exit codes: 0 deleted; 1 nothing deleted (unknown source, not confirmed, busy, database error); 2 usage.")
	cf := addConfigFlags(fs, false)
	yes := fs.Bool("yes", false, "delete without asking")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	rest := fs.Args()
	if len(rest) > 0 { // flags after the name
		if stop, code := parseFlags(e, fs, rest[1:]); stop {
			return code
		}
		rest = append(rest[:1], fs.Args()...)
	}
	if len(rest) != 1 || strings.TrimSpace(rest[0]) == "" {
		fmt.Fprintln(e.stderr, "indexer forget-source: name one source, e.g. indexer forget-source my-source")
		fmt.Fprintln(e.stderr, "hint: 'indexer forget-source --help'; the status page lists the sources")
		return exitUsage
	}
	source := rest[0]
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	log := configLogger(e.stderr, cfg)
	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		log.Error("cannot open the database", "error", err)
		return exitFailed
	}
	defer st.Close()

	if pending, err := st.MigrationsPending(ctx); err == nil && pending {
		fmt.Fprintln(e.stderr, "indexer forget-source: the database schema is older than this binary; nothing deleted")
		fmt.Fprintln(e.stderr, "hint: run 'indexer migrate up' first")
		return exitFailed
	}
	counts, err := st.CountSource(ctx, source)
	if err != nil {
		log.Error("cannot read the source", "source", source, "error", err)
		return exitFailed
	}
	if counts.Empty() {
		known, _ := st.Sources(ctx)
		fmt.Fprintf(e.stderr, "indexer forget-source: source %q has nothing in the database; nothing deleted\n", source)
		if len(known) > 0 {
			fmt.Fprintf(e.stderr, "hint: the sources are: %s\n", strings.Join(known, ", "))
		}
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "source %q: %s\n", source, describeCounts(counts))
	if !*yes {
		fmt.Fprintf(e.stdout, "Type the source's name to delete all of it (anything else keeps it): ")
		answer, rerr := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(answer) != source {
			fmt.Fprintln(e.stdout)
			if rerr != nil && strings.TrimSpace(answer) == "" {
				fmt.Fprintln(e.stderr, "indexer forget-source: no answer on standard input; nothing deleted")
				fmt.Fprintln(e.stderr, "hint: add --yes to delete without asking")
			} else {
				fmt.Fprintln(e.stderr, "indexer forget-source: not confirmed; nothing deleted")
			}
			return exitFailed
		}
	}
	deleted, err := st.ForgetSource(ctx, source)
	switch {
	case errors.Is(err, store.ErrSourceBusy):
		fmt.Fprintf(e.stderr, "indexer forget-source: %v\n", err)
		return exitFailed
	case err != nil:
		log.Error("cannot delete the source", "source", source, "error", err)
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "deleted source %q: %s\n", source, describeCounts(deleted))
	return exitOK
}

func describeCounts(c store.SourceCounts) string {
	return fmt.Sprintf("%d jobs, %d history versions, %d runs, %d bad items, %d deletion candidates",
		c.Jobs, c.Versions, c.Runs, c.BadItems, c.Candidates)
}
