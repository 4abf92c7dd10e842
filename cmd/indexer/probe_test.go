package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vizjob/indexer/internal/probe"
	"github.com/vizjob/indexer/internal/simulator"
)

// TestProbe runs indexer probe against the simulator in each dialect and checks which assumptions it
// reports as holding, and the exit code.
func TestProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dialect    simulator.Dialect
		unexpected []string // checks that must not hold
		code       int
	}{
		{dialect: simulator.Dialect{}, unexpected: nil, code: exitOK},
		{dialect: simulator.Dialect{NotFound: simulator.NotFound400, Search: simulator.SearchNameDesc}, unexpected: nil, code: exitOK},
		{dialect: simulator.Dialect{NotFound: simulator.NotFoundUnpublished}, unexpected: []string{"detail_matches_list", "detail_not_found"}, code: exitFailed},
		{dialect: simulator.Dialect{NotFound: simulator.NotFoundHTML}, unexpected: []string{"detail_not_found"}, code: exitFailed},
		{dialect: simulator.Dialect{Search: simulator.SearchNothing}, unexpected: []string{"name_search"}, code: exitFailed},
		{dialect: simulator.Dialect{StatusIgnored: true}, unexpected: []string{"status_filter"}, code: exitFailed},
	} {
		t.Run(tc.dialect.String(), func(t *testing.T) {
			t.Parallel()
			sim := simulator.New(simulator.Options{Jobs: 250, Seed: 9, Dialect: tc.dialect})
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			env := map[string]string{
				"MODELARTS_ENDPOINT": srv.URL, "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
				"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": simulator.DefaultSK, "INDEXER_SOURCE": "sim",
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb lockedBuffer
			code := Main(ctx, []string{"probe", "--json"}, &out, &errb, func(k string) string { return env[k] })
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out.String(), errb.String())
			}
			var res []struct {
				OK     bool          `json:"ok"`
				Checks []probe.Check `json:"checks"`
			}
			if err := json.Unmarshal([]byte(out.String()), &res); err != nil || len(res) != 1 {
				t.Fatalf("--json output: %v\n%s", err, out.String())
			}
			if len(res[0].Checks) != 9 {
				t.Errorf("%d checks, want 9", len(res[0].Checks))
			}
			for _, c := range res[0].Checks {
				wantBad := strings.Contains(strings.Join(tc.unexpected, ","), c.Name)
				if (c.Verdict != probe.OK) != wantBad {
					t.Errorf("%s: %s (%s), want unexpected=%v", c.Name, c.Verdict, c.Observed, wantBad)
				}
				if c.Consequence == "" || c.Assumption == "" {
					t.Errorf("%s: no assumption or consequence", c.Name)
				}
			}
			// Read-only: the probe never changes the source.
			if got := len(sim.Jobs()); got != 250 {
				t.Errorf("%d jobs after the probe", got)
			}
		})
	}
	// The table form names every check.
	sim := simulator.New(simulator.Options{Jobs: 30, Seed: 1, Dialect: simulator.Dialect{NotFound: simulator.NotFoundUnpublished}})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	var out, errb lockedBuffer
	env := map[string]string{"MODELARTS_ENDPOINT": srv.URL, "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": simulator.DefaultSK}
	if code := Main(context.Background(), []string{"probe"}, &out, &errb, func(k string) string { return env[k] }); code != exitFailed {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"CHECK", "VERDICT", "detail_not_found", "unexpected", "What the indexer does", "name searches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if code := Main(context.Background(), []string{"probe", "extra"}, &out, &errb, func(k string) string { return env[k] }); code != exitUsage {
		t.Errorf("probe extra: exit %d, want %d", code, exitUsage)
	}
}

// TestProbePages runs indexer probe against each pages dialect, 1000 jobs (exactly 10 full pages):
// page_numbering holds where the sync can walk the pages and does not elsewhere; the checks that fail
// only because of the pages are consequences, not failures of their own; the table fits in 100
// columns. The tables are logged (go test -v -run TestProbePages ./cmd/indexer).
func TestProbePages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pages        string
		unexpected   []string // checks reported unexpected
		consequences []string // checks reported as consequences of page_numbering
		observed     string   // in page_numbering's observation
		code         int
	}{
		{simulator.PagesDocumented, nil, nil, "page 11 is empty", exitOK},
		{simulator.PagesClamp, nil, nil, "page 11 repeats page 10, the last (the sync ends its walk there)", exitOK},
		{simulator.PagesError400, nil, nil, "page 11 answered HTTP 400 ModelArts.0104 (the sync ends its walk there)", exitOK},
		{simulator.PagesError404, nil, nil, "page 11 answered HTTP 404", exitOK},
		{simulator.PagesIgnore, []string{"page_numbering"}, []string{"total_count"}, "page 2 holds the same 100 jobs as page 1 although job_total_count 1000 needs 10 pages: page is ignored", exitFailed},
		{simulator.PagesZeroBased, []string{"page_numbering"}, []string{"name_search", "total_count"}, "pages seem counted from 0 (page=1 is the second page)", exitFailed},
	} {
		t.Run(tc.pages, func(t *testing.T) {
			t.Parallel()
			sim := simulator.New(simulator.Options{Jobs: 1000, Seed: 9, Dialect: simulator.Dialect{Pages: tc.pages}})
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			env := map[string]string{
				"MODELARTS_ENDPOINT": srv.URL, "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
				"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": simulator.DefaultSK, "INDEXER_SOURCE": "sim",
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var table, errb lockedBuffer
			code := Main(ctx, []string{"probe"}, &table, &errb, func(k string) string { return env[k] })
			t.Logf("indexer probe, pages=%s, 1000 jobs: exit %d\n%s", tc.pages, code, table.String())
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, errb.String())
			}
			for i, l := range strings.Split(table.String(), "\n") {
				if n := utf8.RuneCountInString(l); n > probeWidth {
					t.Errorf("line %d is %d columns wide: %q", i+1, n, l)
				}
			}
			var out lockedBuffer
			if code := Main(ctx, []string{"probe", "--json"}, &out, &errb, func(k string) string { return env[k] }); code != tc.code {
				t.Fatalf("--json: exit %d", code)
			}
			var res []struct {
				Checks []probe.Check `json:"checks"`
			}
			if err := json.Unmarshal([]byte(out.String()), &res); err != nil || len(res) != 1 {
				t.Fatalf("--json output: %v\n%s", err, out.String())
			}
			for _, c := range res[0].Checks {
				want := probe.OK
				switch {
				case slices.Contains(tc.unexpected, c.Name):
					want = probe.Unexpected
				case slices.Contains(tc.consequences, c.Name):
					want = probe.Consequence
				}
				if c.Verdict != want {
					t.Errorf("%s: %s (%s), want %s", c.Name, c.Verdict, c.Observed, want)
				}
				if c.Name == "page_numbering" && !strings.Contains(c.Observed, tc.observed) {
					t.Errorf("page_numbering observed %q, want it to say %q", c.Observed, tc.observed)
				}
			}
		})
	}
}
