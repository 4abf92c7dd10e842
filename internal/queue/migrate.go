package queue

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateLockKey is the advisory lock that serializes River's migrations between replicas starting
// at once (one key; goose's is another).
const migrateLockKey int64 = 0x56495A4A5256 // "VIZJRV"

// Migration is one of River's migrations and whether it is applied.
type Migration struct {
	Version int
	Name    string
	Applied bool
}

// MigrateUp creates River's schema if needed and applies River's pending migrations (each in a
// transaction of its own: some cannot share one), under an advisory lock that keeps replicas
// starting at once from racing; it returns the versions applied.
func MigrateUp(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Migration, error) {
	return migrate(ctx, pool, schema, rivermigrate.DirectionUp, nil)
}

// MigrateDown rolls River's migrations back, all of them (its tables go; the schema stays).
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Migration, error) {
	return migrate(ctx, pool, schema, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1})
}

func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, dir rivermigrate.Direction, opts *rivermigrate.MigrateOpts) (out []Migration, err error) {
	schema = orDefault(schema)
	defer func() {
		if err != nil {
			err = fmt.Errorf("river migrations (schema %s): %w", schema, err)
		}
	}()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return nil, err
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // ending the session releases the lock
		}
	}()
	if dir == rivermigrate.DirectionUp {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return nil, err
		}
	} else {
		var exists bool
		if err := conn.QueryRow(ctx, schemaExistsSQL, schema).Scan(&exists); err != nil || !exists {
			return nil, err
		}
	}
	res, err := m.Migrate(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	for _, v := range res.Versions {
		out = append(out, Migration{Version: v.Version, Name: v.Name, Applied: dir == rivermigrate.DirectionUp})
	}
	return out, nil
}

const schemaExistsSQL = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`

// Pending says whether some of River's migrations are not applied in schema.
func Pending(ctx context.Context, pool *pgxpool.Pool, schema string) (bool, error) {
	list, err := MigrateStatus(ctx, pool, schema)
	if err != nil {
		return false, err
	}
	for _, m := range list {
		if !m.Applied {
			return true, nil
		}
	}
	return false, nil
}

// MigrateStatus lists River's migrations and whether each is applied in schema.
func MigrateStatus(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Migration, error) {
	schema = orDefault(schema)
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	applied := map[int]bool{}
	var exists bool
	if err := pool.QueryRow(ctx, schemaExistsSQL, schema).Scan(&exists); err != nil {
		return nil, fmt.Errorf("river migrations (schema %s): %w", schema, err)
	}
	if exists {
		have, err := m.ExistingVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("river migrations (schema %s): %w", schema, err)
		}
		for _, v := range have {
			applied[v.Version] = true
		}
	}
	var out []Migration
	for _, v := range m.AllVersions() {
		out = append(out, Migration{Version: v.Version, Name: v.Name, Applied: applied[v.Version]})
	}
	return out, nil
}

func orDefault(schema string) string {
	if schema == "" {
		return DefaultSchema
	}
	return schema
}
