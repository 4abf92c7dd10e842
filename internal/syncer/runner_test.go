package syncer_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/config"
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
