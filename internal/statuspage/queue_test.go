package statuspage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/store"
)

// The page shows the job queue (runs waiting for a worker, running) and who syncs which source, a
// lease whose holder stopped renewing it marked; without River's tables, no queue section.
func TestPageShowsQueue(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	now := rep.Now
	rep.Queue = []store.QueueCount{
		{Kind: "head", State: "available", Jobs: 37, Oldest: now.Add(-90 * time.Second)},
		{Kind: "full", State: "running", Jobs: 4, Oldest: now.Add(-20 * time.Second)},
	}
	rep.Leases = []store.Lease{
		{Source: "prod-bj4", RunID: 812, Host: "replica-2", PID: 7, AcquiredAt: now.Add(-20 * time.Second), ExpiresAt: now.Add(time.Minute)},
		{Source: "prod-sh1", RunID: 811, Host: "replica-1", PID: 9, AcquiredAt: now.Add(-5 * time.Minute), ExpiresAt: now.Add(-time.Second)},
	}
	_, body := get(t, New(fixed(rep), nil), http.MethodGet, "/")
	for _, want := range []string{`id="queue"`, "<td>head</td><td>available</td><td class=\"num\">37</td>",
		"<td>full</td><td>running</td><td class=\"num\">4</td>", "replica-2/7", "replica-1/9 (lease expired: holder gone)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	rep.Queue, rep.Leases = nil, nil
	if _, body := get(t, New(fixed(rep), nil), http.MethodGet, "/"); strings.Contains(body, `id="queue"`) {
		t.Errorf("a queue section without River's tables")
	}
}
