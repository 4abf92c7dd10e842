// Command dictgen writes the data dictionary (docs/data-dictionary.md and docs/data-dictionary.yml)
// from the comments of a database migrated to the binary's schema:
//
//	createdb vizjob_dict
//	go run ./internal/analytics/dictgen -database-url postgres://postgres@127.0.0.1:5432/vizjob_dict?sslmode=disable [-docs docs]
//
// It migrates the database first; a database of its own is best (a database with other migrations
// applied would put their comments in the dictionary).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/vizjob/indexer/internal/analytics"
	"github.com/vizjob/indexer/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dictgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dictgen", flag.ContinueOnError)
	dbURL := fs.String("database-url", os.Getenv("INDEXER_DATABASE_URL"), "URL of a PostgreSQL database to migrate and read (default $INDEXER_DATABASE_URL)")
	docs := fs.String("docs", "docs", "directory to write data-dictionary.md and data-dictionary.yml into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("-database-url is required (or set INDEXER_DATABASE_URL)")
	}
	st, err := store.Open(ctx, *dbURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		return err
	}
	t, err := st.QueryTable(ctx, analytics.CatalogSQL)
	if err != nil {
		return err
	}
	rels, err := analytics.Catalog(t.Rows)
	if err != nil {
		return err
	}
	for name, text := range map[string]string{
		"data-dictionary.md":  analytics.DictionaryMarkdown(rels),
		"data-dictionary.yml": analytics.DictionarySchemaYML(rels),
	} {
		if err := os.WriteFile(filepath.Join(*docs, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %d relations to %s\n", len(rels), *docs)
	return nil
}
