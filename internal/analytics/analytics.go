// Package analytics holds the documented queries: the SQL behind the README's "Questions you can
// answer", one statement per file in queries/, on the views of migration 00004. The files are the
// single source of truth: the tests run each one on a fixture history with known answers, and check
// that the README section is exactly what Section renders from them. The demo command
// (internal/analytics/readmegen) regenerates that section, with each query's answer on the demo data.
//
// A query file is a header of comment lines, then the statement:
//
//	-- The question, on the first line
//	-- What the answer means, on the following lines (optional).
//	SELECT ...;
package analytics

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"
)

//go:embed queries/*.sql
var files embed.FS

// Query is one documented question and the statement that answers it.
type Query struct {
	Name     string // file name without .sql, e.g. "01-running-now"
	Question string // the header's first line
	Doc      string // the header's other lines, joined by spaces; may be empty
	SQL      string // the statement, verbatim, ending in ";"
}

var queries = mustLoad(files)

// Queries returns the documented queries in file name order.
func Queries() []Query { return append([]Query(nil), queries...) }

func mustLoad(fsys fs.FS) []Query {
	qs, err := load(fsys)
	if err != nil {
		panic(err)
	}
	return qs
}

func load(fsys fs.FS) ([]Query, error) {
	names, err := fs.Glob(fsys, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]Query, 0, len(names))
	for _, name := range names { // fs.Glob sorts
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		q, err := parse(strings.TrimSuffix(path.Base(name), ".sql"), string(b))
		if err != nil {
			return nil, fmt.Errorf("analytics: %s: %w", name, err)
		}
		out = append(out, q)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("analytics: no query in queries/")
	}
	return out, nil
}

func parse(name, text string) (Query, error) {
	if !utf8.ValidString(text) || strings.Contains(text, "\r") {
		return Query{}, fmt.Errorf("not UTF-8 text with LF line ends")
	}
	q := Query{Name: name}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var doc []string
	i := 0
	for ; i < len(lines) && strings.HasPrefix(lines[i], "--"); i++ {
		line := strings.TrimSpace(strings.TrimPrefix(lines[i], "--"))
		if i == 0 {
			q.Question = line
		} else if line != "" {
			doc = append(doc, line)
		}
	}
	q.Doc = strings.Join(doc, " ")
	q.SQL = strings.TrimSpace(strings.Join(lines[i:], "\n"))
	switch {
	case q.Question == "":
		return Query{}, fmt.Errorf("no question: the first line must be a -- comment")
	case !strings.HasSuffix(q.SQL, ";") || strings.Count(q.SQL, ";") != 1:
		return Query{}, fmt.Errorf("the body must be one statement ending in ';'")
	case strings.Contains(q.SQL, "```"):
		return Query{}, fmt.Errorf("the statement cannot contain a Markdown fence")
	}
	return q, nil
}
