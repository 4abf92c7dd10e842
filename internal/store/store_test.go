package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestOpenErrorsNameTheTargetNotThePassword(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	const secret = "s3cr3t-Pw"

	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://indexer:"+secret+"@127.0.0.1:1/vizjobs?sslmode=disable&connect_timeout=2", log)
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	t.Log(err)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("unreachable server: %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"127.0.0.1:1", `"vizjobs"`, `"indexer"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}

	for _, bad := range []string{
		"postgres://indexer:" + secret + "@127.0.0.1:notaport/vizjobs",
		"postgres://indexer:" + secret + "@[::1/vizjobs",
		"host=127.0.0.1 password=" + secret + " sslmode=bogus",
	} {
		_, err := Open(ctx, bad, log)
		if err == nil {
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		t.Log(err)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestRedactMasksPassword(t *testing.T) {
	t.Parallel()
	base := errors.New("connect: password pa ss@word rejected, also pa%20ss%40word")
	err := redact(base, "pa ss@word")
	if strings.Contains(err.Error(), "pa ss@word") || strings.Contains(err.Error(), "pa%20ss%40word") {
		t.Errorf("redact left the password: %v", err)
	}
	if !errors.Is(err, base) {
		t.Errorf("redact lost the cause")
	}
	if redact(base, "") != base || redact(nil, "x") != nil {
		t.Errorf("redact changed an error it had nothing to mask in")
	}
}

func TestInterpretError(t *testing.T) {
	t.Parallel()
	other := errors.New("other")
	for _, tc := range []struct {
		err  error
		want error
	}{
		{err: &pgconn.PgError{Code: "40001"}, want: ErrConflict},
		{err: &pgconn.PgError{Code: "40P01"}, want: ErrConflict},
		{err: &pgconn.PgError{Code: "08006"}, want: ErrUnavailable},
		{err: &pgconn.PgError{Code: "57P01"}, want: ErrUnavailable},
		{err: &pgconn.PgError{Code: "53300"}, want: ErrUnavailable},
		{err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF), want: ErrUnavailable},
		{err: fmt.Errorf("x: %w", pgconn.ErrConnClosed), want: ErrUnavailable},
		{err: context.Canceled, want: context.Canceled},
		{err: &pgconn.PgError{Code: "23505"}, want: nil},
		{err: other, want: other},
	} {
		got := interpretError(tc.err)
		if !errors.Is(got, tc.err) {
			t.Errorf("interpretError(%v) lost the cause: %v", tc.err, got)
		}
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("interpretError(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.want == nil && (errors.Is(got, ErrConflict) || errors.Is(got, ErrUnavailable)) {
			t.Errorf("interpretError(%v) = %v, want it unclassified", tc.err, got)
		}
	}
	if interpretError(nil) != nil {
		t.Errorf("interpretError(nil) != nil")
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestBeginRunNeedsASource(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	if _, err := s.BeginRun(t.Context(), "", RunOptions{}); err == nil {
		t.Fatal("BeginRun with an empty source succeeded")
	}
}
