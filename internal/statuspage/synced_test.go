package statuspage

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
	"github.com/vizjob/indexer/internal/testdb"
)

// The page over a real database, filled by real syncs of the simulator.
func TestPageOnSyncedData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sim := simulator.New(simulator.Options{Jobs: 150, Seed: 3})
	api := httptest.NewServer(sim.Handler())
	t.Cleanup(api.Close)
	st, err := store.Open(ctx, testdb.NewMigrated(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	client, err := fetch.New(fetch.Config{Endpoint: api.URL, ProjectID: simulator.DefaultProjectID,
		AK: simulator.DefaultAK, SK: simulator.DefaultSK})
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		if _, err := syncer.Sync(ctx, client, st, syncer.Options{Source: "sim-project"}); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	sync()
	// A job fails, and one with a hostile name completes.
	var failing, completing int64
	for _, j := range sim.Jobs() {
		switch {
		case failing == 0 && j.Status == 8:
			failing = j.ID
		case completing == 0 && j.Status == 7:
			completing = j.ID
		}
	}
	if failing == 0 || completing == 0 {
		t.Fatal("the simulator has no running or no waiting job")
	}
	sim.SetStatus(failing, 11, time.Minute)
	sim.UpdateJob(completing, func(j *simulator.JobState) { j.Name = `<i>x</i>"`; j.Status = 10 })
	sync()

	res, body := get(t, New(st, nil), http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if want := `id="live-jobs">150<`; !strings.Contains(body, want) {
		t.Errorf("page lacks %s", want)
	}
	sources := part(t, body, "sources", "</section>")
	if !strings.Contains(sources, "sim-project") || !strings.Contains(sources, `class="badge succeeded"`) ||
		!strings.Contains(sources, `<td class="fresh">`) {
		t.Errorf("source row:\n%s", sources)
	}
	runs := part(t, body, "runs", "</section>")
	if n := strings.Count(runs, `class="badge succeeded"`); n != 2 {
		t.Errorf("%d succeeded runs shown, want 2", n)
	}
	changes := part(t, body, "changes", "</section>")
	for _, want := range []string{
		"#" + strconv.FormatInt(failing, 10), ">RUNNING<", ">FAILED<",
		"#" + strconv.FormatInt(completing, 10), "&lt;i&gt;x&lt;/i&gt;&#34;", ">WAITING<", ">COMPLETED<",
	} {
		if !strings.Contains(changes, want) {
			t.Errorf("status changes lack %q:\n%s", want, changes)
		}
	}
	if n := strings.Count(part(t, body, "created-per-day", "</figure>"), "<rect"); n != 30 {
		t.Errorf("%d days in the creations chart, want 30", n)
	}
}
