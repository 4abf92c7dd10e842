package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
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

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDatabaseURL masks the password of a PostgreSQL URL
// (postgres://user:secret@host/db) or keyword/value string (password=secret).
func RedactDatabaseURL(s string) string {
	if s == "" {
		return "(libpq defaults)"
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}
