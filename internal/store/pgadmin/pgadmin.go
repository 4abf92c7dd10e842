// Package pgadmin is the database administration that is not the indexer's own work, shared by the
// benchmark (`indexer bench`) and the test helper (internal/testdb): creating and dropping a database,
// rewriting a connection string for another database or application name, and one plain session for
// statements on a database the store does not run (statistics, VACUUM, CHECKPOINT, the server version).
//
// It imports pgx but not package testing, so production code may use it; errors never carry the
// password of the connection string.
package pgadmin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/dsn"
)

// ConnectTimeout bounds each connection attempt when the connection string sets no connect_timeout.
const ConnectTimeout = 5 * time.Second

// Session is one connection to one database, for statements run one at a time. It is not safe for
// concurrent use.
type Session struct {
	conn     *pgx.Conn
	password []string
}

// Connect opens a session on the database of databaseURL (a postgres:// URL or a keyword/value string).
func Connect(ctx context.Context, databaseURL string) (*Session, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %s", dsn.ParseErrorText(err, databaseURL))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	pw := dsn.Password(databaseURL)
	if cfg.Password != "" {
		pw = append(pw, cfg.Password)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, dsn.RedactError(err, pw...)
	}
	return &Session{conn: conn, password: pw}, nil
}

// Close ends the session.
func (s *Session) Close(ctx context.Context) error { return s.conn.Close(ctx) }

// Exec runs sql (one statement or several separated by semicolons, when args is empty).
func (s *Session) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := s.conn.Exec(ctx, sql, args...)
	return dsn.RedactError(err, s.password...)
}

// QueryRow runs sql and scans its first row into dest.
func (s *Session) QueryRow(ctx context.Context, dest []any, sql string, args ...any) error {
	return dsn.RedactError(s.conn.QueryRow(ctx, sql, args...).Scan(dest...), s.password...)
}

// ServerVersion returns the server's version string, e.g. "PostgreSQL 17.2 on x86_64-pc-linux-gnu".
func (s *Session) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := s.QueryRow(ctx, []any{&v}, `SELECT version()`); err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	if i := strings.Index(v, ", compiled by"); i > 0 {
		v = v[:i]
	}
	return v, nil
}

// ScratchMarker is the comment CreateDatabase leaves on every database it creates (COMMENT ON
// DATABASE). Destructive steps (DropDatabase, the test pool's TRUNCATE, the benchmark's writes) first
// check that the database they reach carries it and has the name that was created (CheckScratch), so
// a connection string that reaches another database than the one it seems to name is refused before
// anything is written. A copy made from a template does not inherit the comment: only CreateDatabase
// leaves it.
const ScratchMarker = "vizjob indexer scratch database: made by indexer bench or the tests, dropped when they end"

// CreateDatabase creates the database name as a copy of template ("" for the server's default) on the
// server adminURL points at (a role allowed to create databases), marks it with ScratchMarker and
// returns a URL of it: adminURL with its database replaced (see WithDatabase), which it has checked
// reaches the database it created. On PostgreSQL 15 and later it copies the template's files (STRATEGY
// FILE_COPY) rather than the default of writing every block through the WAL: for the small databases
// of tests and bench runs, 107 ms against 275 ms a database on the development machine.
func CreateDatabase(ctx context.Context, adminURL, name, template string) (string, error) {
	u, err := WithDatabase(adminURL, name)
	if err != nil {
		return "", err
	}
	id := pgx.Identifier{name}.Sanitize()
	sql := "CREATE DATABASE " + id
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	s, err := Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer s.Close(context.WithoutCancel(ctx))
	var version int
	if err := s.QueryRow(ctx, []any{&version}, `SELECT current_setting('server_version_num')::int`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	if version >= 150000 {
		sql += " STRATEGY FILE_COPY"
	}
	if err := s.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	if err := s.Exec(ctx, "COMMENT ON DATABASE "+id+" IS "+quoteLiteral(ScratchMarker)); err != nil {
		return "", fmt.Errorf("mark database %s as scratch: %w", name, err)
	}
	check, err := ConnectScratch(ctx, u, name)
	if err != nil {
		return "", err
	}
	_ = check.Close(ctx)
	return u, nil
}

// ConnectScratch opens a session on the database of databaseURL and checks (CheckScratch) that it is
// the scratch database name; it refuses, with no session left open, when it is not.
func ConnectScratch(ctx context.Context, databaseURL, name string) (*Session, error) {
	s, err := Connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if err := s.CheckScratch(ctx, name); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// CheckScratch returns an error unless the session's database is name and carries ScratchMarker: a
// database this package created, reached by the connection string built for it.
func (s *Session) CheckScratch(ctx context.Context, name string) error {
	var current, comment string
	if err := s.QueryRow(ctx, []any{&current, &comment}, `
		SELECT current_database(), coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname = current_database()`); err != nil {
		return fmt.Errorf("check scratch database %s: %w", name, err)
	}
	if current != name {
		return fmt.Errorf("refusing to touch database %q: the connection string made for the scratch database %q reaches %q "+
			"(does the URL name its database another way, e.g. a dbname or database parameter?)", current, name, current)
	}
	if comment != ScratchMarker {
		return fmt.Errorf("refusing to touch database %q: it does not carry the scratch marker (COMMENT ON DATABASE) "+
			"that the tests and indexer bench leave on the databases they create, so they did not create it", current)
	}
	return nil
}

// DropDatabase drops the database name if it exists, ending the sessions still connected to it. It
// refuses a database that does not carry ScratchMarker: it drops only what CreateDatabase made.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	s, err := Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer s.Close(context.WithoutCancel(ctx))
	var comment *string
	err = s.QueryRow(ctx, []any{&comment}, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if comment == nil || *comment != ScratchMarker {
		return fmt.Errorf("refusing to drop database %q: it does not carry the scratch marker (COMMENT ON DATABASE) "+
			"that the tests and indexer bench leave on the databases they create", name)
	}
	if err := s.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings on, as since PostgreSQL 9.1).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Exec runs sql in a session of its own on the database of databaseURL.
func Exec(ctx context.Context, databaseURL, sql string) error {
	s, err := Connect(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	return s.Exec(ctx, sql)
}

// WithDatabase returns databaseURL (a postgres:// URL or a keyword/value string) naming database name
// instead of its own. libpq and pgx let a dbname or database parameter override a URL's path (the
// usual way to name the database of a Unix-socket URL, postgresql:///?host=/run/postgresql&dbname=x):
// those are removed, and the result is read back with the connection parser, which must find name in
// it, so that no other way of naming a database survives.
func WithDatabase(databaseURL, name string) (string, error) {
	var out string
	if isURL(databaseURL) {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return "", errors.New("invalid database URL")
		}
		q := u.Query()
		q.Del("dbname")
		q.Del("database")
		// The user (and a password) go into the URL's user part, where tools that rewrite a URL look
		// for them: a user parameter would override what they write there.
		if q.Has("user") || q.Has("password") {
			user, pw, hasPW := q.Get("user"), q.Get("password"), q.Has("password")
			if user == "" && u.User != nil {
				user = u.User.Username()
			}
			if old, ok := u.User.Password(); ok && !hasPW {
				pw, hasPW = old, true
			}
			u.User = url.User(user)
			if hasPW {
				u.User = url.UserPassword(user, pw)
			}
			q.Del("user")
			q.Del("password")
		}
		if u.User == nil { // the user libpq would take (PGUSER, else the system user), written out
			if cfg, err := pgx.ParseConfig(databaseURL); err == nil && cfg.User != "" {
				u.User = url.User(cfg.User)
			}
		}
		u.RawQuery = q.Encode()
		u.Path, u.RawPath = "/"+name, ""
		out = u.String()
	} else {
		out = strings.TrimSpace(databaseURL + " dbname=" + quoteValue(name)) // a later dbname wins
	}
	cfg, err := pgx.ParseConfig(out)
	if err != nil {
		return "", fmt.Errorf("invalid database URL: %s", dsn.ParseErrorText(err, databaseURL))
	}
	if cfg.Database != name {
		return "", fmt.Errorf("the connection string made for database %q names %q: refusing to use it", name, cfg.Database)
	}
	if orig, err := pgx.ParseConfig(databaseURL); err == nil && (orig.User != cfg.User || orig.Host != cfg.Host || orig.Port != cfg.Port) {
		return "", fmt.Errorf("the connection string made for database %q reaches %s@%s:%d, not %s@%s:%d: refusing to use it",
			name, cfg.User, cfg.Host, cfg.Port, orig.User, orig.Host, orig.Port)
	}
	return out, nil
}

// quoteValue quotes a keyword/value connection string value when it needs it.
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// WithApplicationName returns databaseURL (a postgres:// URL or a keyword/value string) with its
// application_name set to name.
func WithApplicationName(databaseURL, name string) (string, error) {
	if isURL(databaseURL) {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return "", errors.New("invalid database URL")
		}
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(databaseURL + " application_name=" + name), nil // a later setting wins
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
