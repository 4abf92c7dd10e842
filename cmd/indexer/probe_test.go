package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
			if len(res[0].Checks) != 8 {
				t.Errorf("%d checks, want 8", len(res[0].Checks))
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
