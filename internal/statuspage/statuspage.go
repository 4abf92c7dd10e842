// Package statuspage serves the indexer's status page, for people: every source with its freshness
// and last run, the live jobs by status, jobs created per day and the distribution of run times as
// charts, and the recent runs with their errors.
//
// The page is one self-contained HTML response: inline CSS, charts drawn as inline SVG on the server,
// no JavaScript and no external asset, so it works behind any proxy and under a strict
// Content-Security-Policy. Everything that comes from the API or the database (job names, errors) is
// escaped by html/template, cut to a bounded length and cleaned of control and format characters.
package statuspage

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/ttlcache"
)

// Reports is where the page reads its data (a *store.Store).
type Reports interface {
	StatusReport(ctx context.Context, opts store.StatusOptions) (store.StatusReport, error)
}

var _ Reports = (*store.Store)(nil)

// How much the page shows, how long it waits for the database, and how long one rendering of it is
// shown (a flood of requests makes one read and one rendering per period, however many at once).
const (
	days         = 30
	runs         = 20
	queryTimeout = 10 * time.Second
	cacheTTL     = 5 * time.Second
)

//go:embed page.html.tmpl
var pageTemplate string

var tmpl = template.Must(template.New("page").Parse(pageTemplate))

// New returns the handler of the status page. It answers GET and HEAD of "/" only (404 for any other
// path, so that it can be mounted as a catch-all), and 503 when the database cannot be read; the
// error is logged, not shown.
func New(src Reports, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{log: log.With("component", "statuspage")}
	h.page = ttlcache.Value[[]byte]{TTL: cacheTTL, Load: func(ctx context.Context) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		rep, err := src.StatusReport(ctx, store.StatusOptions{Days: days, Runs: runs})
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, build(rep)); err != nil {
			return nil, renderError{err}
		}
		return buf.Bytes(), nil
	}}
	return h
}

// renderError is a failure of the template, told apart from the database's.
type renderError struct{ error }

type handler struct {
	page ttlcache.Value[[]byte] // rendered, shared by every request of its period
	log  *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

	body, err := h.page.Get(r.Context())
	if re := (renderError{}); errors.As(err, &re) {
		h.log.Error("cannot render the status page", "error", err)
		http.Error(w, "status page: internal error", http.StatusInternalServerError)
		return
	}
	if err != nil {
		h.log.Error("cannot read the status", "error", err)
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("status unavailable: the database cannot be read right now (the error is in the indexer's log)\n"))
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(body)
}
