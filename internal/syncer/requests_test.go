package syncer_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// sent is what the simulator received, by kind of request.
type sent struct {
	list, search, detail, token int
	failed                      int // answered 401 or 5xx: each is retried once by the client
}

func (s sent) requests() int { return s.list + s.search + s.detail + s.token }

// received classifies the requests the simulator logged.
func received(log []simulator.RequestLog) sent {
	var s sent
	for _, r := range log {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/auth/tokens"):
			s.token++
		case strings.HasSuffix(r.Path, "/visualization-jobs") && r.Query().Get("search_content") != "":
			s.search++
		case strings.HasSuffix(r.Path, "/visualization-jobs"):
			s.list++
		default:
			s.detail++
		}
		if r.Status == 401 || r.Status >= 500 {
			s.failed++
		}
	}
	return s
}

// TestLedgerCountsEveryRequest: sync_runs.requests and sync_runs.retries are what the service
// received, of every kind (list pages, the probe, detail calls and name searches of the deletion
// checks, the head walk's detail calls, IAM token requests), with gateway errors and an expired token
// forcing retries.
func TestLedgerCountsEveryRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "ledger-counts", simulator.Options{Jobs: 650, Seed: 11,
		Faults: simulator.Faults{ServerErrorEvery: 5, ExpireTokensAfter: 4}}, fetch.AuthToken)
	ctx := context.Background()

	for i, step := range []struct {
		name   string
		before func()
		kind   string
		want   func(sent) bool // which kinds the run must have sent
	}{
		{"first full walk", func() {}, store.KindFull, func(g sent) bool { return g.list > 0 && g.token > 0 }},
		{"full walk with deletion checks", func() {
			for _, j := range s.sim.Jobs()[100:103] {
				s.sim.DeleteJob(j.ID)
			}
		}, store.KindFull, func(g sent) bool { return g.list > 0 && g.detail > 0 }},
		{"full walk with deletion checks by name search", func() {
			if err := s.sim.SetDialect(simulator.Dialect{NotFound: simulator.NotFoundUnpublished}); err != nil {
				t.Fatal(err)
			}
			for _, j := range s.sim.Jobs()[200:203] {
				s.sim.DeleteJob(j.ID)
			}
		}, store.KindFull, func(g sent) bool { return g.list > 0 && g.detail > 0 && g.search > 0 }},
		{"head walk", func() {}, store.KindHead, func(g sent) bool { return g.list > 0 }},
	} {
		step.before()
		from := len(s.sim.Stats().Requests)
		opts := options(s.name)
		opts.Kind = step.kind
		res, err := f.sync(s.client, opts)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got := received(s.sim.Stats().Requests[from:])
		var requests, retries int
		if err := f.db.QueryRow(ctx, `SELECT requests, retries FROM modelarts.sync_runs WHERE id = $1`, res.RunID).
			Scan(&requests, &retries); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d (%s): sent list %d, search %d, detail %d, token %d = %d requests, %d failed; ledger: %d requests, %d retries",
			i+1, step.name, got.list, got.search, got.detail, got.token, got.requests(), got.failed, requests, retries)
		if !step.want(got) {
			t.Errorf("%s: the run sent %+v, not every kind this test is about", step.name, got)
		}
		if requests != got.requests() || retries != got.failed || res.Requests != requests || res.Retries != retries {
			t.Errorf("%s: ledger %d requests, %d retries (result %d, %d); the service received %d requests, %d of them failed and retried",
				step.name, requests, retries, res.Requests, res.Retries, got.requests(), got.failed)
		}
	}
	if n := len(s.sim.FaultEvents()); n == 0 {
		t.Error("no fault was injected")
	}
}

// TestDeadlineErrorNamesTheSettings: a walk that cannot finish before the run's deadline at the rate
// ceiling fails fast, and the ledger's error names the settings to raise as the user gave them
// (config.Config.Origin, passed by NewRunner): the fetch library names none of its own.
func TestDeadlineErrorNamesTheSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sim := simulator.New(simulator.Options{Jobs: 10_000, Seed: 1})
	env := map[string]string{
		"MODELARTS_ENDPOINT": simEndpoint, "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": simulator.DefaultSK, "INDEXER_SOURCE": "deadline-words",
		"INDEXER_RUN_TIMEOUT": "10s", "INDEXER_RATE_LIMIT": "5", "INDEXER_MAX_RATE_LIMIT": "5", // 100 more requests at 5/s: 20s
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := syncer.NewRunner(cfg, cfg.Sources[0], syncer.Hooks{HTTPClient: &http.Client{Transport: simulator.InMemory(sim.Handler())}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), f.st, store.KindFull)
	var de *fetch.DeadlineError
	if !errors.As(err, &de) {
		t.Fatalf("sync = %v, want a *fetch.DeadlineError", err)
	}
	run, err := lastRun(context.Background(), f.db, "deadline-words")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raise the run deadline (INDEXER_RUN_TIMEOUT) to at least", "or the rate ceiling (INDEXER_MAX_RATE_LIMIT) if"} {
		if !strings.Contains(run.Error, want) {
			t.Errorf("ledger error %q does not say %q", run.Error, want)
		}
	}
}
