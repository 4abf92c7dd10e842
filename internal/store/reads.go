package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The reads made for HTTP (the status page, /metrics, /readyz) share a few connections of the pool
// and a statement timeout, so that a flood of requests cannot take the connections the runs need nor
// keep the server busy.
const (
	// DefaultReadConns is how many connections HTTP reads may use at once.
	DefaultReadConns = 2
	// ReadStatementTimeout bounds each statement of an HTTP read.
	ReadStatementTimeout = 5 * time.Second
)

// readSlot waits for one of the DefaultReadConns slots of HTTP reads; release gives it back.
func (s *Store) readSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.reads <- struct{}{}:
		return func() { <-s.reads }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a database connection for reads: %w", context.Cause(ctx))
	}
}

// readTx runs fn in a read-only transaction of the given isolation on one of the read slots, with
// statement_timeout set to ReadStatementTimeout.
func (s *Store) readTx(ctx context.Context, iso pgx.TxIsoLevel, fn func(pgx.Tx) error) error {
	release, err := s.readSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: iso, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setReadTimeoutSQL, fmt.Sprintf("%dms", ReadStatementTimeout.Milliseconds())); err != nil {
			return err
		}
		return fn(tx)
	})
}

const setReadTimeoutSQL = `SELECT set_config('statement_timeout', $1, true)`
