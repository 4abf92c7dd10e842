// Package demodb finds or starts the PostgreSQL server `indexer demo` runs against when no database
// is configured, so that the demo is one command on a machine with PostgreSQL's binaries or Docker:
//
//  1. a local server, found as psql would find it (the libpq PG* variables and defaults), else on
//     127.0.0.1:5432 as the current user or as postgres (as the tests find one): the demo uses its
//     own database there, Database, creating it when the role may;
//  2. else a private throwaway server started from this machine's PostgreSQL binaries (initdb in a
//     temporary directory, listening on a Unix socket only, removed when the demo ends);
//  3. else a postgres container, where a Docker engine answers (removed when the demo ends).
//
// Server says which it used and how to query it.
package demodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"regexp"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/store/pgadmin"
)

// DefaultDatabase is the database the demo uses (and creates) on a server it finds or starts.
const DefaultDatabase = "vizjob_demo"

// Options say what Find looks for.
type Options struct {
	Database string       // the demo's database; default DefaultDatabase
	Logger   *slog.Logger // progress of a server being started (initdb, a container)
}

func (o Options) withDefaults() Options {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is the server the demo runs against.
type Server struct {
	URL       string // connection string of the demo's database, for the store
	Via       string // how it was found: "local server", "private server" or "docker container"
	Where     string // where it is, for people: "vizjob_demo (created now) on the local server at 127.0.0.1:5432 as postgres"
	Psql      string // the command line that queries the demo's database
	Throwaway bool   // the server and its data are removed by Close
	close     func() error
}

// Close stops and removes a server Find started; it does nothing for a server it found.
func (s *Server) Close() error {
	if s == nil || s.close == nil {
		return nil
	}
	return s.close()
}

// NotFoundError says that no way gave a server, and why each did not.
type NotFoundError struct{ Tried []string }

func (e *NotFoundError) Error() string {
	return "no PostgreSQL server for the demo; tried:\n  " + strings.Join(e.Tried, "\n  ")
}

// way is one way to get a server.
type way struct {
	name string
	try  func(ctx context.Context) (*Server, error)
}

// Find returns the first server of the ways in the package comment.
func Find(ctx context.Context, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	return first(ctx, []way{
		{"a local server", func(ctx context.Context) (*Server, error) { return findLocal(ctx, opts, localCandidates()) }},
		{"a private server from this machine's PostgreSQL binaries", func(ctx context.Context) (*Server, error) {
			return StartPrivate(ctx, opts)
		}},
		{"a Docker container", func(ctx context.Context) (*Server, error) { return startDocker(ctx, opts) }},
	})
}

// first returns the server of the first way that gives one, or what each way answered.
func first(ctx context.Context, ways []way) (*Server, error) {
	var tried []string
	for _, w := range ways {
		s, err := w.try(ctx)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		tried = append(tried, w.name+": "+oneLine(err.Error()))
	}
	return nil, &NotFoundError{Tried: tried}
}

// candidate is a connection string to try for a local server, described for people.
type candidate struct{ conn, desc, psql string }

// localCandidates are the local servers tried, in order, as internal/testdb tries them.
func localCandidates() []candidate {
	cands := []candidate{{"connect_timeout=3", "found by the libpq defaults (PG* variables, the default socket)", "psql -d %s"}}
	users := []string{"postgres"}
	if u, err := user.Current(); err == nil && u.Username != "" && u.Username != "postgres" {
		users = []string{u.Username, "postgres"}
	}
	for _, u := range users {
		conn := "postgres://" + u + "@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"
		cands = append(cands, candidate{conn, "at 127.0.0.1:5432 as " + u, `psql "postgres://` + u + `@127.0.0.1:5432/%s?sslmode=disable"`})
	}
	return cands
}

// findLocal returns the demo's database on the first candidate that has it or may create it.
func findLocal(ctx context.Context, opts Options, cands []candidate) (*Server, error) {
	var tried []string
	for _, c := range cands {
		s, err := useServer(ctx, c.conn, opts.Database)
		if err != nil {
			tried = append(tried, c.desc+": "+oneLine(err.Error()))
			continue
		}
		s.Via = "local server"
		s.Where += " on the local server " + c.desc
		s.Psql = fmt.Sprintf(c.psql, opts.Database)
		return s, nil
	}
	return nil, errors.New(strings.Join(tried, "; "))
}

// useServer returns the database name on the server conn reaches, created when it does not exist.
func useServer(ctx context.Context, conn, name string) (*Server, error) {
	sess, err := pgadmin.Connect(ctx, conn)
	if err != nil {
		return nil, err
	}
	var mayCreate, exists bool
	var role string
	err = sess.QueryRow(ctx, []any{&role, &mayCreate, &exists},
		`SELECT current_user, (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user),
			EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name)
	_ = sess.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	url, err := pgadmin.WithDatabase(conn, name)
	if err != nil {
		return nil, err
	}
	where := name
	switch {
	case exists:
	case !mayCreate:
		return nil, fmt.Errorf("role %s may not create databases, and database %s does not exist", role, name)
	default:
		if err := createDatabase(ctx, conn, name); err != nil {
			return nil, err
		}
		where += " (created now)"
	}
	return &Server{URL: url, Where: where}, nil
}

// demoComment is the comment the demo leaves on the database it creates: it stays between runs (not
// a scratch database of the tests or the benchmark, which drop theirs).
const demoComment = "vizjob indexer demo database: made by indexer demo, kept between its runs; drop it when done"

// createDatabase creates the demo's database. name is a plain identifier (lower-case letters, digits,
// underscores), so it needs no quoting beyond double quotes.
func createDatabase(ctx context.Context, conn, name string) error {
	if !plainName.MatchString(name) {
		return fmt.Errorf("database name %q: use lower-case letters, digits and underscores", name)
	}
	if err := pgadmin.Exec(ctx, conn, `CREATE DATABASE "`+name+`"`); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := pgadmin.WithDatabase(conn, name)
	if err != nil {
		return err
	}
	return pgadmin.Exec(ctx, u, `COMMENT ON DATABASE "`+name+`" IS '`+demoComment+`'`)
}

var plainName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// waitReady polls conn until the server accepts a session, exited says it never will, or timeout.
func waitReady(ctx context.Context, conn string, timeout time.Duration, exited func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		sess, err := pgadmin.Connect(ctx, conn)
		if err == nil {
			return sess.Close(ctx)
		}
		if xerr := exited(); xerr != nil {
			return xerr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", timeout, oneLine(err.Error()))
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// lastLine is the last line of a command's output, which says why it failed.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
