package config

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/vizjob/indexer/internal/dsn"
)

// String never prints a secret: the database password is masked and each
// source prints without its credentials (Source.String).
func (c Config) String() string {
	names := make([]string, len(c.Sources))
	for i, s := range c.Sources {
		names[i] = s.String()
	}
	return fmt.Sprintf("Config{database: %s, sources: [%s]}", RedactDatabaseURL(c.DatabaseURL), strings.Join(names, ", "))
}

// GoString never prints a secret.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// RedactDatabaseURL masks the password of a PostgreSQL URL
// (postgres://user:secret@host/db, postgres://user:pa@ss@host, ?password=) or keyword/value string
// (password=secret, password='it\'s'), by parsing it (see package dsn).
func RedactDatabaseURL(s string) string {
	if s == "" {
		return "(libpq defaults)"
	}
	return dsn.Redact(s)
}
