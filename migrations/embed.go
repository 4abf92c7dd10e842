// Package migrations holds the goose SQL migrations of the modelarts schema, embedded in the binary
// so that `indexer migrate` and the daemon never depend on files beside it. Package store runs them
// through goose's Provider API.
//
// Files are named NNNNN_what.sql and carry `-- +goose Up` and `-- +goose Down` sections. A migration,
// once released, is never edited: add a new one.
package migrations

import "embed"

// FS holds every *.sql migration at its root.
//
//go:embed *.sql
var FS embed.FS
