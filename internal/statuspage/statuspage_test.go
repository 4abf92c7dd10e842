package statuspage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/store"
)

// fakeSource is a Source whose answer the test chooses.
type fakeSource struct {
	report func(ctx context.Context, opts store.StatusOptions) (store.StatusReport, error)
}

func (f fakeSource) StatusReport(ctx context.Context, opts store.StatusOptions) (store.StatusReport, error) {
	return f.report(ctx, opts)
}

func fixed(rep store.StatusReport) fakeSource {
	return fakeSource{report: func(context.Context, store.StatusOptions) (store.StatusReport, error) { return rep, nil }}
}

// Hostile text, as job names, errors and source names may hold.
const (
	xssJobName = `<img src=x onerror=alert(1)> "quoted" & 'single' 可视化作业 🚀`
	xssError   = `list jobs: <script>alert("pwned")</script> & more`
	xssSource  = `lab"><b>bold</b>`
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func sampleReport() store.StatusReport {
	rep := store.StatusReport{
		Now:         now,
		LiveJobs:    583,
		DeletedJobs: 14,
		Sources: []store.SourceHealth{
			{Source: "edge", LastRunID: 70, LastRunState: "failed", LastRunStartedAt: now.Add(-time.Minute),
				LastRunFinishedAt: now.Add(-50 * time.Second), LastRunError: "dial tcp: connection refused",
				LastErrorAt: now.Add(-50 * time.Second), LastError: "dial tcp: connection refused", Runs24h: 2, FailedRuns24h: 2},
			{Source: xssSource, LastRunID: 69, LastRunState: "partial", LastRunStartedAt: now.Add(-2 * time.Hour),
				LastRunFinishedAt: now.Add(-2 * time.Hour), LastSuccessAt: now.Add(-3 * time.Hour),
				LastErrorAt: now.Add(-2 * time.Hour), LastError: xssError, LastRunError: xssError,
				Runs24h: 100, FailedRuns24h: 1, LiveJobs: 142, RunningJobs: 4},
			{Source: "prod", LastRunID: 68, LastRunState: "succeeded", LastRunStartedAt: now.Add(-70 * time.Second),
				LastRunFinishedAt: now.Add(-65 * time.Second), LastSuccessAt: now.Add(-65 * time.Second),
				Runs24h: 288, LiveJobs: 441, RunningJobs: 10},
		},
		ByStatus: []store.StatusCount{
			{Status: 10, Name: "JOBSTAT_COMPLETED", Group: "completed", Jobs: 293},
			{Status: 8, Name: "JOBSTAT_RUNNING", Group: "running", Jobs: 14},
			{Status: 99, Name: "UNDOCUMENTED_99", Group: "unknown", Jobs: 2},
		},
		RecentRuns: []store.RunRecord{
			{ID: 71, Source: "prod", State: "running", StartedAt: now.Add(-5 * time.Second)},
			{ID: 70, Source: "edge", State: "failed", StartedAt: now.Add(-time.Minute), FinishedAt: now.Add(-50 * time.Second),
				Error: xssError},
			{ID: 68, Source: "prod", State: "succeeded", StartedAt: now.Add(-70 * time.Second), FinishedAt: now.Add(-65 * time.Second),
				JobsSeen: 441, Inserted: 3, Updated: 13, Deleted: 1},
		},
		StatusChanges: []store.JobChange{
			{Source: "prod", JobID: 13231, JobName: xssJobName, At: now.Add(-time.Minute),
				From: store.StatusCount{Status: 8, Name: "JOBSTAT_RUNNING", Group: "running"},
				To:   store.StatusCount{Status: 11, Name: "JOBSTAT_FAILED", Group: "failed"}, IsDeleted: true},
		},
	}
	for i := range 30 {
		rep.CreatedPerDay = append(rep.CreatedPerDay, store.DayCount{Day: now.Truncate(24*time.Hour).AddDate(0, 0, i-29), Jobs: int64(i % 5)})
	}
	for i, b := range append([]time.Duration{0}, store.DurationBounds...) {
		bucket := store.DurationBucket{Min: b, Jobs: int64(i * 10)}
		if i < len(store.DurationBounds) {
			bucket.Max = store.DurationBounds[i]
		}
		rep.Durations = append(rep.Durations, bucket)
	}
	return rep
}

func get(t *testing.T, h http.Handler, method, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// part returns the HTML of the element whose id is id, up to the next </section> or closing div of a
// chart: enough to count what is inside.
func part(t *testing.T, body, id, end string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element with id %q", id)
	}
	j := strings.Index(body[i:], end)
	if j < 0 {
		t.Fatalf("element %q does not end with %q", id, end)
	}
	return body[i : i+j]
}

func TestPage(t *testing.T) {
	var gotOpts store.StatusOptions
	var deadline time.Duration
	src := fakeSource{report: func(ctx context.Context, opts store.StatusOptions) (store.StatusReport, error) {
		gotOpts = opts
		if d, ok := ctx.Deadline(); ok {
			deadline = time.Until(d)
		}
		return sampleReport(), nil
	}}
	res, body := get(t, New(src, nil), http.MethodGet, "/")

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q: want default-src 'none' and no script", csp)
	}
	if gotOpts.Days != 30 || gotOpts.Runs != 20 {
		t.Errorf("asked for %+v", gotOpts)
	}
	if deadline <= 0 || deadline > queryTimeout {
		t.Errorf("the report was read with a deadline of %s, want at most %s", deadline, queryTimeout)
	}

	t.Run("self-contained", func(t *testing.T) {
		if !strings.HasPrefix(body, "<!DOCTYPE html>") || !strings.Contains(body, `<meta charset="utf-8">`) {
			t.Errorf("not an HTML5 document in UTF-8")
		}
		for _, banned := range []string{`(?i)<script`, `(?i)<link`, `(?i)<img`, `(?i)<iframe`, `(?i)<[^>]*\s(src|href|on[a-z]+)=`,
			`url\(`, `@import`, `https?://`} {
			if m := regexp.MustCompile(banned).FindString(body); m != "" {
				t.Errorf("the page contains %q: it must load nothing and run nothing", m)
			}
		}
		if n := strings.Count(body, "<svg"); n != 3 {
			t.Errorf("%d SVG charts, want 3", n)
		}
	})

	t.Run("escaping", func(t *testing.T) {
		for _, want := range []string{
			`&lt;img src=x onerror=alert(1)&gt; &#34;quoted&#34; &amp; &#39;single&#39; 可视化作业 🚀`,
			`list jobs: &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; more`,
			`lab&#34;&gt;&lt;b&gt;bold&lt;/b&gt;`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks the escaped text %s", want)
			}
		}
		if strings.Contains(body, "<b>bold") || strings.Contains(body, "onerror=alert(1)>") {
			t.Errorf("hostile text reached the page unescaped")
		}
	})

	t.Run("totals", func(t *testing.T) {
		for id, want := range map[string]string{"live-jobs": "583", "running-jobs": "14", "deleted-jobs": "14", "source-count": "3"} {
			if !strings.Contains(body, `id="`+id+`">`+want+`<`) {
				t.Errorf("tile %s does not show %s", id, want)
			}
		}
	})

	t.Run("sources", func(t *testing.T) {
		s := part(t, body, "sources", "</section>")
		rows := strings.Split(s, "<tr>")[2:] // after the header's
		if len(rows) != 3 {
			t.Fatalf("%d source rows, want 3", len(rows))
		}
		checks := []struct{ name, state, freshness, success string }{
			{name: "edge", state: "failed", freshness: "late", success: "never"},
			{name: "lab&#34;&gt;", state: "partial", freshness: "stale", success: "3h 0m ago"},
			{name: "prod", state: "succeeded", freshness: "fresh", success: "1m 5s ago"},
		}
		for i, c := range checks {
			row := rows[i]
			for _, want := range []string{c.name, `class="badge ` + c.state + `"`, `<td class="` + c.freshness + `">`, c.success} {
				if !strings.Contains(row, want) {
					t.Errorf("source row %d lacks %q:\n%s", i, want, row)
				}
			}
		}
		if !strings.Contains(rows[0], "(last run)") || !strings.Contains(rows[2], ">none<") {
			t.Errorf("last errors: want edge's marked as its last run's, none for prod")
		}
		if !strings.Contains(rows[2], `title="2026-11-29 11:58:55 UTC"`) {
			t.Errorf("prod's last success has no exact time as a tooltip:\n%s", rows[2])
		}
	})

	t.Run("charts", func(t *testing.T) {
		byStatus := part(t, body, "by-status", "</figure>")
		if n := strings.Count(byStatus, "<rect"); n != 3 {
			t.Errorf("jobs by status: %d bars, want 3", n)
		}
		for _, want := range []string{">COMPLETED<", ">RUNNING<", ">UNDOCUMENTED_99<", ">293<", `class="g-completed"`, `class="g-unknown"`,
			"<title>JOBSTAT_RUNNING (code 8, running): 14 jobs</title>"} {
			if !strings.Contains(byStatus, want) {
				t.Errorf("jobs by status lacks %q", want)
			}
		}
		created := part(t, body, "created-per-day", "</figure>")
		if n := strings.Count(created, "<rect"); n != 30 {
			t.Errorf("jobs created per day: %d bars, want 30", n)
		}
		if !strings.Contains(created, "<title>Sun 2026-11-29 UTC: 4 jobs created</title>") || !strings.Contains(created, ">Nov 29<") {
			t.Errorf("jobs created per day lacks today's bar or label")
		}
		// Its days are UTC days, whatever the database session's time zone: the chart says so, since
		// the documented query 06 counts days in the session's time zone.
		if !strings.Contains(created, "Jobs created per UTC day, last 30 days") {
			t.Errorf("jobs created per day does not name the time zone of its days")
		}
		durations := part(t, body, "durations", "</figure>")
		if n := strings.Count(durations, "<rect"); n != 8 {
			t.Errorf("durations: %d bars, want 8", n)
		}
		for _, want := range []string{">&lt;1m<", ">1m–10m<", ">1d–3d<", ">≥7d<", "<title>run time 6h–1d: 40 jobs</title>"} {
			if !strings.Contains(durations, want) {
				t.Errorf("durations lack %q", want)
			}
		}
	})

	t.Run("changes", func(t *testing.T) {
		c := part(t, body, "changes", "</section>")
		for _, want := range []string{"#13231", "(deleted since)", `class="st running" title="JOBSTAT_RUNNING (8)">RUNNING<`,
			`class="st failed" title="JOBSTAT_FAILED (11)">FAILED<`, "1m 0s ago"} {
			if !strings.Contains(c, want) {
				t.Errorf("status changes lack %q", want)
			}
		}
	})

	t.Run("runs", func(t *testing.T) {
		r := part(t, body, "runs", "</section>")
		if n := strings.Count(r, "<tr"); n != 4 {
			t.Errorf("%d rows in recent runs, want 3 and a header", n)
		}
		if n := strings.Count(r, `class="has-err"`); n != 1 {
			t.Errorf("%d runs marked with an error, want 1", n)
		}
		for _, want := range []string{"running for 5s", ">10s<", ">5s<", `class="badge running"`, ">441<"} {
			if !strings.Contains(r, want) {
				t.Errorf("recent runs lack %q", want)
			}
		}
	})
}

func TestEmptyPage(t *testing.T) {
	rep := store.StatusReport{Now: now}
	for i := range 30 {
		rep.CreatedPerDay = append(rep.CreatedPerDay, store.DayCount{Day: now.AddDate(0, 0, i-29)})
	}
	res, body := get(t, New(fixed(rep), nil), http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{"No sync has run yet.", "No job yet.", "No job has run yet.", "No status change seen yet.",
		"No job was created in the last 30 days: nothing to draw.", `id="live-jobs">0<`} {
		if !strings.Contains(body, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
	if n := strings.Count(body, "<svg"); n != 0 { // an all-zero chart is an empty grid: say so instead
		t.Errorf("%d charts on an empty page, want none", n)
	}
}

func TestDatabaseDown(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	src := fakeSource{report: func(context.Context, store.StatusOptions) (store.StatusReport, error) {
		return store.StatusReport{}, errors.New(`store: connect to 10.0.0.5:5432 database "vizjob" as user "indexer": secret-detail`)
	}}
	res, body := get(t, New(src, log), http.MethodGet, "/")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if strings.Contains(body, "secret-detail") || strings.Contains(body, "10.0.0.5") {
		t.Errorf("the page shows the database error: %s", body)
	}
	if !strings.Contains(logs.String(), "secret-detail") {
		t.Errorf("the error was not logged: %s", logs.String())
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := New(fixed(sampleReport()), nil)
	if res, _ := get(t, h, http.MethodPost, "/"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	for _, path := range []string{"/favicon.ico", "/status", "/index.html"} {
		if res, _ := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	res, body := get(t, h, http.MethodHead, "/")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	_ = body // a real server drops a HEAD body; the recorder keeps it
}

func TestColumnsGeometry(t *testing.T) {
	c := columns("t", []string{"a", "", "c"}, []int64{0, 5, 10}, []string{"x", "y", "z"}, "k", true)
	if len(c.Bars) != 3 {
		t.Fatalf("%d bars", len(c.Bars))
	}
	full := c.Bars[2].H
	if c.Bars[0].H != 0 || c.Bars[1].H*2 != full || c.Bars[2].Y+full != c.Bars[0].Y {
		t.Errorf("bar heights not proportional on a common base: %+v", c.Bars)
	}
	var labels []string
	for _, tx := range c.Texts {
		labels = append(labels, tx.Text)
	}
	if got := strings.Join(labels, ","); got != "0,5,10,a,5,c,10" {
		t.Errorf("texts %s", got)
	}
}

func TestNiceCeil(t *testing.T) {
	for n, want := range map[int64]int64{0: 2, 1: 2, 2: 2, 3: 4, 7: 8, 9: 10, 11: 20, 45: 60, 130: 200, 282: 400, 1000: 1000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		250 * time.Millisecond:                "250ms",
		45 * time.Second:                      "45s",
		12*time.Minute + 5*time.Second:        "12m 5s",
		3*time.Hour + 4*time.Minute:           "3h 4m",
		50*time.Hour + 59*time.Minute:         "2d 2h",
		-90 * time.Second:                     "-1m 30s",
		7*24*time.Hour + 30*time.Minute + 1e9: "7d 0h",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}

// The template must not emit a script or an event handler even for an attribute: html/template
// guarantees it, this keeps an eye on the template itself.
func TestTemplateHasNoScript(t *testing.T) {
	if regexp.MustCompile(`(?i)<script|\son[a-z]+=|javascript:`).MatchString(pageTemplate) {
		t.Error("the template contains a script or an event handler")
	}
}

// Partial is not an error: a source whose runs always end partial, having listed every page, is
// green with when it was last listed whole (amber, with when it was last synced, where the ledger
// does not say it listed every page), not "never" in red; an old run's error is
// not shown as the current error of a source whose last run succeeded; a
// running run shows how far it has come.
func TestPartialAndEarlierErrorsAreNotCurrentErrors(t *testing.T) {
	t.Parallel()
	rep := store.StatusReport{Now: now, Sources: []store.SourceHealth{
		{Source: "always-partial", LastRunState: "partial", LastRunStartedAt: now.Add(-3 * time.Minute),
			LastRunFinishedAt: now.Add(-2 * time.Minute), LastErrorAt: now.Add(-2 * time.Minute),
			LastError: "sync partial: no walk of 3 could be verified complete", LastRunError: "sync partial: no walk of 3 could be verified complete"},
		{Source: "busy", LastRunState: "partial", LastRunStartedAt: now.Add(-3 * time.Minute),
			LastRunFinishedAt: now.Add(-2 * time.Minute), LastListedAt: now.Add(-2 * time.Minute), LastHeadWalkAt: now.Add(-30 * time.Second),
			LastErrorAt: now.Add(-2 * time.Minute), LastError: "sync partial: no walk of 3 could be verified complete",
			LastRunError: "sync partial: no walk of 3 could be verified complete"},
		{Source: "recovered", LastRunState: "succeeded", LastRunStartedAt: now.Add(-2 * time.Minute),
			LastRunFinishedAt: now.Add(-time.Minute), LastSuccessAt: now.Add(-time.Minute),
			LastErrorAt: now.Add(-time.Hour), LastError: "abandoned: the process running it stopped before recording an outcome"},
	}, RecentRuns: []store.RunRecord{
		{ID: 9, Source: "recovered", State: "running", StartedAt: now.Add(-time.Minute), JobsSeen: 12000, Pages: 120, APITotalCount: 100000},
		{ID: 8, Source: "always-partial", State: "partial", StartedAt: now.Add(-3 * time.Minute), FinishedAt: now.Add(-2 * time.Minute),
			JobsSeen: 500, Error: "sync partial: no walk of 3 could be verified complete"},
	}}
	_, body := get(t, New(fixed(rep), nil), http.MethodGet, "/")
	rows := strings.Split(body, "<tr")
	var partial, busy, recovered, running, partialRun string
	for _, r := range rows {
		switch {
		case strings.Contains(r, ">busy<"):
			busy = r
		case strings.Contains(r, ">always-partial<") && strings.Contains(r, `<td class="num">8</td>`):
			partialRun = r
		case strings.Contains(r, ">always-partial<"):
			partial = r
		case strings.Contains(r, ">recovered<") && strings.Contains(r, "running for"):
			running = r
		case strings.Contains(r, ">recovered<"):
			recovered = r
		}
	}
	if strings.Contains(partial, "never") || strings.Contains(partial, `class="late"`) || !strings.Contains(partial, `class="stale">partial <time`) {
		t.Errorf("always-partial source row:\n%s\nwant amber and 'partial 2m ago', not 'never' in red", partial)
	}
	if !strings.Contains(busy, `<td class="fresh">listed <time`) || !strings.Contains(busy, "never proven complete") ||
		!strings.Contains(busy, "head walk <time") || strings.Contains(busy, `class="stale"`) {
		t.Errorf("busy source row:\n%s\nwant green, 'listed 2m ago; never proven complete' and its head walk", busy)
	}
	if strings.Contains(recovered, `<div class="err">abandoned`) || !strings.Contains(recovered, "none since the last success") {
		t.Errorf("recovered source row:\n%s\nwant no current error", recovered)
	}
	// The reason a run was partial is shown as a muted note, not as red error text.
	for what, row := range map[string]string{"source": partial, "run": partialRun} {
		if strings.Contains(row, `class="err"`) || strings.Contains(row, "has-err") || strings.Contains(row, "sync partial:") ||
			!strings.Contains(row, `<div class="note"`) || !strings.Contains(row, "no walk of 3 could be verified complete") {
			t.Errorf("always-partial %s row:\n%s\nwant the reason as a note, not red error text", what, row)
		}
	}
	if !strings.Contains(running, "12000 of 100000 jobs listed (page 120)") {
		t.Errorf("running run row:\n%s\nwant its progress", running)
	}
}

// Job names of any length, with format characters, make a page of bounded size, rendered once per
// period however many requests come at once, with the names cut and their format characters escaped.
func TestHugeNamesMakeABoundedPageRenderedOnce(t *testing.T) {
	rep := sampleReport()
	rep.StatusChanges = nil
	for i := range 10 {
		rep.StatusChanges = append(rep.StatusChanges, store.JobChange{
			At: now.Add(-time.Duration(i) * time.Minute), Source: "prod", JobID: int64(i),
			JobName: "evil\u202eexe.\u2028" + strings.Repeat("n", 3<<20),
			From:    store.StatusCount{Status: 8, Name: "JOBSTAT_RUNNING", Group: "running"},
			To:      store.StatusCount{Status: 10, Name: "JOBSTAT_COMPLETED", Group: "completed"},
		})
	}
	var reads atomic.Int64
	h := New(fakeSource{report: func(context.Context, store.StatusOptions) (store.StatusReport, error) {
		reads.Add(1)
		return rep, nil
	}}, nil)
	var pages [3]string
	var wg sync.WaitGroup
	for i := range pages {
		wg.Go(func() { _, pages[i] = get(t, h, http.MethodGet, "/") })
	}
	wg.Wait()
	for i, body := range pages {
		if len(body) > 256<<10 {
			t.Errorf("page %d: %d bytes for ten 3 MB names, want under 256 KiB", i, len(body))
		}
		if strings.ContainsAny(body, "\u202e\u2028") || !strings.Contains(body, `evil\u202eexe.\u2028nnn`) || !strings.Contains(body, "n …") {
			t.Errorf("page %d: names not cut, or format characters not escaped", i)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d database reads for three requests at once, want 1", n)
	}
}
