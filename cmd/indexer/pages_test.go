package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vizjob/indexer/internal/simulator"
)

// TestSyncPagesDialects is the acceptance of the walk's end: for each answer the simulator can give
// about pages, with 1000 jobs (exactly 10 full pages) and 1001, `indexer sync` twice against it.
// Where the pages can be walked, both syncs exit 0, succeeded, with the mirror equal to the
// simulator; where they cannot (page ignored, pages from 0), both exit 3, partial, with an error
// naming the pages and what to do, nothing marked deleted. No walk asks for more than a page past the
// total. The table of outcomes is logged (go test -v -run TestSyncPagesDialects ./cmd/indexer).
func TestSyncPagesDialects(t *testing.T) {
	t.Parallel()
	type row struct {
		pages   string
		jobs    int
		outcome [2]string
	}
	var (
		mu   sync.Mutex
		rows []row
	)
	t.Run("dialects", func(t *testing.T) {
		for _, pages := range simulator.PagesModes() {
			for _, jobs := range []int{1000, 1001} {
				t.Run(fmt.Sprintf("%s/%d", pages, jobs), func(t *testing.T) {
					t.Parallel()
					r := row{pages: pages, jobs: jobs}
					walkable := pages != simulator.PagesIgnore && pages != simulator.PagesZeroBased
					h := newHarness(t, jobs, "aksk")
					h.env["INDEXER_PAGE_CONCURRENCY"] = "1" // requests as a sequential walk makes them: exact counts
					if err := h.sim.SetDialect(simulator.Dialect{Pages: pages}); err != nil {
						t.Fatal(err)
					}
					h.mustRun("migrate", "up")
					c := h.conn()
					for i := range 2 {
						h.sim.ResetStats()
						code, _, errOut := h.run("sync")
						run := lastRun(t, c)
						list := countRequests(h.sim).list
						var live int
						if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs WHERE deleted_at IS NULL`).Scan(&live); err != nil {
							t.Fatal(err)
						}
						r.outcome[i] = fmt.Sprintf("exit %d, %-9s list requests %2d, mirror %4d/%d live, %d deleted", code, run.State, list, live, jobs, run.Deleted)
						// The baseline request, the pages, the confirming one past the total: 12 at most.
						if list > 12 {
							t.Errorf("sync %d: %d list requests, want at most 12", i+1, list)
						}
						if run.Deleted != 0 {
							t.Errorf("sync %d: %d jobs marked deleted", i+1, run.Deleted)
						}
						if walkable {
							if code != exitOK || run.State != "succeeded" {
								t.Fatalf("sync %d: exit %d, %+v\n%s", i+1, code, run, tail(errOut, 3000))
							}
							assertMirror(t, c, "sim", h.sim.Jobs())
							continue
						}
						if code != exitPartial || run.State != "partial" || !strings.Contains(run.Error, "pages cannot be walked as documented") ||
							!strings.Contains(run.Error, "run `indexer probe`") {
							t.Fatalf("sync %d: exit %d, %+v; want exit 3, partial, naming the pages and what to do\n%s", i+1, code, run, tail(errOut, 3000))
						}
						if i == 0 {
							t.Logf("pages=%s, %d jobs: %s", pages, jobs, run.Error)
						}
					}
					mu.Lock()
					rows = append(rows, r)
					mu.Unlock()
				})
			}
		}
	})
	slices.SortFunc(rows, func(a, b row) int {
		return strings.Compare(fmt.Sprintf("%d/%s/%d", slices.Index(simulator.PagesModes(), a.pages), a.pages, a.jobs),
			fmt.Sprintf("%d/%s/%d", slices.Index(simulator.PagesModes(), b.pages), b.pages, b.jobs))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s %4d jobs | sync 1: %s | sync 2: %s\n", r.pages, r.jobs, r.outcome[0], r.outcome[1])
	}
	t.Logf("indexer sync twice per pages dialect:\n%s", b.String())
}

// TestSyncPerPageHint: a per_page the service refuses (a 400 naming it) fails the run, and one it
// serves silently capped makes it partial, each with the setting to lower named as the user gave it.
func TestSyncPerPageHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  simulator.Options
		args  []string
		code  int
		state string
		inErr []string
	}{
		{"refused, from the environment", simulator.Options{Jobs: 250, Seed: 3, MaxPerPage: 50}, nil, exitFailed, "failed",
			[]string{"the service refused per_page=100", "set INDEXER_PER_PAGE lower than 100", "or run `indexer probe`"}},
		{"refused, from a flag", simulator.Options{Jobs: 250, Seed: 3, MaxPerPage: 50}, []string{"--per-page", "100"}, exitFailed, "failed",
			[]string{"the service refused per_page=100", "set --per-page lower than 100"}},
		{"capped silently", simulator.Options{Jobs: 250, Seed: 3, Dialect: simulator.Dialect{PerPageCap: 50}}, nil, exitPartial, "partial",
			[]string{"page 1 held 50 jobs although per_page=100 was asked and job_total_count is 250", "set INDEXER_PER_PAGE to 50 or lower, or run `indexer probe`"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 0, "aksk")
			h.sim = simulator.New(tc.opts)
			srv := httptest.NewServer(h.sim.Handler())
			t.Cleanup(srv.Close)
			h.url, h.env["MODELARTS_ENDPOINT"] = srv.URL, srv.URL
			h.mustRun("migrate", "up")
			code, _, errOut := h.run(append([]string{"sync"}, tc.args...)...)
			run := lastRun(t, h.conn())
			if code != tc.code || run.State != tc.state {
				t.Fatalf("exit %d, %+v; want exit %d, %s\n%s", code, run, tc.code, tc.state, tail(errOut, 3000))
			}
			for _, want := range tc.inErr {
				if !strings.Contains(run.Error, want) {
					t.Errorf("error %q does not say %q", run.Error, want)
				}
			}
		})
	}
}
