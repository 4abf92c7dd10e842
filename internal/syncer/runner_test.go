package syncer_test

import (
	"context"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/syncer"
)

// The one place where a configured source becomes a client and run options: every setting reaches
// the options of its runs.
func TestRunnerTakesEverySetting(t *testing.T) {
	env := map[string]string{
		"MODELARTS_ENDPOINT": "http://127.0.0.1:1", "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk", "INDEXER_SOURCE": "s",
		"INDEXER_PER_PAGE": "50", "INDEXER_MAX_WALKS": "4", "INDEXER_MAX_DELETE_SHARE": "0.3", "INDEXER_MAX_DELETE_MIN": "7",
		"INDEXER_SEEN_REFRESH": "1h", "INDEXER_RUN_TIMEOUT": "10m", "INDEXER_PAGE_CONCURRENCY": "2",
		"INDEXER_DELETE_CHECK_BUDGET": "33", "INDEXER_DELETE_CHECK_TIME": "45s", "INDEXER_RATE_LIMIT": "7",
		"INDEXER_PAGE_BUFFER_MIB": "16",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := syncer.NewRunner(cfg, cfg.Sources[0], syncer.Hooks{Adjust: func(o *syncer.Options) { o.AllowMassDelete = true }})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Options()
	want := syncer.Options{Source: "s", PerPage: 50, PerPageSetting: config.EnvPerPage, MaxWalks: 4, MaxDeleteShare: 0.3, MaxDeleteMin: 7, AllowMassDelete: true,
		SeenRefresh: time.Hour, Timeout: 10 * time.Minute, PageConcurrency: 2, DeleteCheckBudget: 33,
		DeleteCheckTime: 45 * time.Second, RateLimit: 7, MaxBufferBytes: 16 << 20}
	got.Logger, got.Progress = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options\n got %+v\nwant %+v", got, want)
	}
	if r.Name != "s" || r.Client == nil || r.Client.AuthMode() != "aksk" {
		t.Errorf("runner %+v", r)
	}
}

// TestConfigLetsNoRefusedClientThrough: every source config.Validate accepts becomes a client. The
// rules of endpoints, credentials and limits live in config, worded for users; fetch.New keeps
// guards (fetch.ConfigError) that a validated configuration never meets.
func TestConfigLetsNoRefusedClientThrough(t *testing.T) {
	urls := []string{"", "https://m.example.com", "http://127.0.0.1:8081", "http://m.example.com", "https://m.example.com/v3/",
		"https://m.example.com?x=1", "https://m.example.com/?", "ftp://m.example.com", "m.example.com", "https://", " http://localhost:1 ",
		"http://[::1]:1", "https://m.example.com#f", "https://u@m.example.com:444/p"}
	sizes := []string{"", "0", "1", "100", "500", "1000", "1001", "-1"}
	values := map[string][]string{
		config.EnvProjectID:         {"", "p1", "0123456789abcdef0123456789abcdef", "a/b"},
		config.EnvEndpoint:          urls,
		config.EnvRegion:            {"", "cn-north-4", "ap-southeast-1"},
		config.EnvAK:                {"", "ak"},
		config.EnvSK:                {"", "sk"},
		config.EnvUsername:          {"", "u"},
		config.EnvPassword:          {"", "pw"},
		config.EnvDomainName:        {"", "d"},
		config.EnvIAMEndpoint:       urls,
		config.EnvPerPage:           sizes,
		config.EnvMaxPerPage:        sizes,
		config.EnvMaxAttempts:       {"", "0", "1", "20", "21"},
		config.EnvRequestTimeout:    {"", "0s", "1ms", "-1s"},
		config.EnvRateLimit:         {"", "0", "2.5", "-1", "NaN", "+Inf"},
		config.EnvMaxRateLimit:      {"", "0", "1", "100", "-1", "NaN", "+Inf"},
		config.EnvAllowInsecureHTTP: {"", "true"},
	}
	variables := slices.Sorted(maps.Keys(values))
	rapid.Check(t, func(rt *rapid.T) {
		// A valid source of either kind of credentials, with up to three settings changed.
		env := map[string]string{config.EnvProjectID: "p1", config.EnvRegion: "cn-north-4", config.EnvAK: "ak", config.EnvSK: "sk"}
		if rapid.Bool().Draw(rt, "token") {
			env = map[string]string{config.EnvProjectID: "p1", config.EnvRegion: "cn-north-4", config.EnvUsername: "u",
				config.EnvPassword: "pw", config.EnvDomainName: "d"}
		}
		for range rapid.IntRange(1, 3).Draw(rt, "changes") {
			v := rapid.SampledFrom(variables).Draw(rt, "variable")
			env[v] = rapid.SampledFrom(values[v]).Draw(rt, v)
		}
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil || cfg.Validate() != nil {
			return
		}
		if _, err := syncer.NewRunner(cfg, cfg.Sources[0], syncer.Hooks{}); err != nil {
			rt.Fatalf("config accepts the source, fetch.New refuses it: %v", err)
		}
	})
}

// TestRunnerListsTheWorkspace: a source's workspace (MODELARTS_WORKSPACE_ID) goes with every list call
// of its client, walks and searches alike; a call's own workspace wins.
func TestRunnerListsTheWorkspace(t *testing.T) {
	sim := simulator.New(simulator.Options{Jobs: 3, Seed: 1})
	var mu sync.Mutex
	var workspaces []string
	served := simulator.InMemory(sim.Handler())
	record := roundTripper(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		workspaces = append(workspaces, r.URL.Query().Get("workspace_id"))
		mu.Unlock()
		return served.RoundTrip(r)
	})
	env := map[string]string{
		"MODELARTS_ENDPOINT": "http://127.0.0.1:1", "HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": simulator.DefaultSK, "MODELARTS_WORKSPACE_ID": "ws-1",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := syncer.NewRunner(cfg, cfg.Sources[0], syncer.Hooks{HTTPClient: &http.Client{Transport: record}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := fetch.Walk(ctx, r.Client, fetch.WalkOptions{PerPage: 2}, func(context.Context, *fetch.Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Client.ListPage(ctx, fetch.Query{Page: 1, PerPage: 1, SearchContent: "job"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Client.ListPage(ctx, fetch.Query{Page: 1, PerPage: 1, WorkspaceID: "ws-2"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"ws-1", "ws-1", "ws-1", "ws-2"} // two pages of the walk, the search, the call's own
	if !slices.Equal(workspaces, want) {
		t.Errorf("workspace_id of the list calls %q, want %q", workspaces, want)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
