package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

// listPages requests n list answers (create_time ascending, 100 per page).
func listPages(t *testing.T, sim *Simulator, n int) {
	t.Helper()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	for i := range n {
		q := url.Values{"page": {strconv.Itoa(i%5 + 1)}, "per_page": {"100"}, "sortBy": {"create_time"}}
		if a := signedList(t, srv, q); a.Status != http.StatusOK {
			t.Fatalf("list: %d %s", a.Status, a.Body)
		}
	}
}

func TestChurnIsDeterministicAndSized(t *testing.T) {
	t.Parallel() // the longest test of the package
	run := func() (*Simulator, []fetch.Job) {
		sim := New(Options{Jobs: 300, Seed: 11, Churn: 0.7})
		listPages(t, sim, 500)
		return sim, sim.Jobs()
	}
	a, jobsA := run()
	_, jobsB := run()
	if !reflect.DeepEqual(jobsA, jobsB) {
		t.Fatal("the same seed and requests gave different jobs")
	}
	st := a.ChurnStats()
	// 500 requests at 0.7: 350 mutations expected, binomial spread about 10.
	if st.Total() < 300 || st.Total() > 400 || st.Created == 0 || st.Deleted == 0 || st.StatusChanged == 0 || st.DurationGrown == 0 {
		t.Fatalf("churn stats %+v after 500 requests at 0.7", st)
	}
	if got, want := len(jobsA), 300+st.Created-st.Deleted; got != want {
		t.Fatalf("%d jobs, want %d", got, want)
	}
	// Churn draws from its own source: the generated jobs do not depend on it.
	if !reflect.DeepEqual(New(Options{Jobs: 300, Seed: 11}).Jobs(), New(Options{Jobs: 300, Seed: 11, Churn: 2}).Jobs()) {
		t.Fatal("the churn rate changed the generated jobs")
	}

	a.SetChurn(0)
	before := a.Jobs()
	listPages(t, a, 20)
	if !reflect.DeepEqual(before, a.Jobs()) || a.ChurnStats() != st {
		t.Fatal("churn 0 still mutates")
	}
	a.SetChurn(2)
	listPages(t, a, 10)
	if got := a.ChurnStats().Total() - st.Total(); got != 20 {
		t.Fatalf("churn 2 applied %d mutations over 10 requests, want 20", got)
	}
	for _, r := range []float64{-1, 0} {
		a.SetChurn(r)
		if a.Churn() != 0 {
			t.Fatalf("SetChurn(%g) left %g", r, a.Churn())
		}
	}
}

func TestChurnCreatesNewestAndKeepsOrder(t *testing.T) {
	sim := New(Options{Jobs: 200, Seed: 3, Churn: 3})
	first := sim.Jobs()
	maxCreate, maxID := int64(0), int64(0)
	for _, j := range first {
		maxCreate, maxID = max(maxCreate, j.CreateTime), max(maxID, j.ID)
	}
	listPages(t, sim, 30)
	old := map[int64]fetch.Job{}
	for _, j := range first {
		old[j.ID] = j
	}
	for _, j := range sim.Jobs() {
		o, existed := old[j.ID]
		switch {
		case !existed && (j.ID <= maxID || j.CreateTime <= maxCreate):
			t.Errorf("created job %d (create_time %d) is not the newest (max id %d, create_time %d)", j.ID, j.CreateTime, maxID, maxCreate)
		case existed && (j.CreateTime != o.CreateTime || j.Duration < o.Duration):
			t.Errorf("job %d: create_time %d -> %d, duration %d -> %d", j.ID, o.CreateTime, j.CreateTime, o.Duration, j.Duration)
		case existed && j.Status != o.Status && started(j.Status) && j.Duration == o.Duration:
			t.Errorf("job %d changed status to %d without its duration growing", j.ID, j.Status)
		}
	}
	// Every status change follows the documented lifecycle: no job leaves a final status.
	changes := 0
	for _, tr := range sim.Transitions() {
		if tr.From < 0 {
			continue
		}
		changes++
		if final(tr.From) || !slices.ContainsFunc(lifecycle[tr.From], func(n struct{ to, weight int }) bool { return n.to == tr.To }) {
			t.Errorf("job %d: status %d -> %d is not in the documented lifecycle", tr.JobID, tr.From, tr.To)
		}
	}
	if changes == 0 {
		t.Errorf("no status changed in 30 list requests with churn 3")
	}
}

func TestOnListRunsBetweenPages(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 150, Seed: 8})
	var calls []ListCall
	sim.OnList(func(c ListCall) {
		calls = append(calls, c)
		if c.Page == 1 {
			sim.DeleteJob(sim.Jobs()[0].ID) // may call the simulator: no lock held
		}
	})
	a := signedList(t, srv, url.Values{"page": {"1"}, "per_page": {"100"}, "sortBy": {"create_time"}})
	if a.TotalCount != 150 || len(a.Jobs) != 100 {
		t.Fatalf("page 1 already sees the change: total %d", a.TotalCount)
	}
	a = signedList(t, srv, url.Values{"page": {"2"}, "per_page": {"100"}, "sortBy": {"create_time"}, "order": {"desc"}})
	if a.TotalCount != 149 || len(a.Jobs) != 49 {
		t.Fatalf("page 2: total %d, %d jobs", a.TotalCount, len(a.Jobs))
	}
	want := []ListCall{{Page: 1, PerPage: 100, SortKey: "create_time", Total: 150}, {Page: 2, PerPage: 100, SortKey: "create_time", Desc: true, Total: 149}}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls %+v, want %+v", calls, want)
	}
	sim.OnList(nil)
	signedList(t, srv, nil)
	if len(calls) != 2 {
		t.Fatal("hook still called after OnList(nil)")
	}
	// Failed list requests are not list answers.
	tokenList(t, srv, "", nil)
	if len(calls) != 2 {
		t.Fatal("hook called for a rejected request")
	}
}

func TestPutJobBringsAJobBack(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 40, Seed: 5})
	victim := sim.Jobs()[17]
	js, ok := sim.JobState(victim.ID)
	if !ok {
		t.Fatal("JobState: missing")
	}
	sim.DeleteJob(victim.ID)
	sim.PutJob(js)
	back, ok := sim.Job(victim.ID)
	if !ok || !reflect.DeepEqual(back, victim) {
		t.Fatalf("back %+v, want %+v", back, victim)
	}
	a := signedList(t, srv, url.Values{"per_page": {"100"}, "sortBy": {"create_time"}})
	if got, want := ids(t, a.Jobs), expectedOrder(sim.Jobs(), "create_time", false); !slices.Equal(got, want) || len(got) != 40 {
		t.Fatalf("order after PutJob %v, want %v", got, want)
	}
	js.Name = "renamed"
	sim.PutJob(js)
	if j, _ := sim.Job(victim.ID); j.Name != "renamed" || len(sim.Jobs()) != 40 {
		t.Fatalf("PutJob did not replace: %+v", j)
	}
}

func TestAdminEndpoints(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 30, Seed: 2, Churn: 1})
	signedList(t, srv, nil)
	var st struct {
		Churn      float64    `json:"churn"`
		ChurnStats ChurnStats `json:"churn_stats"`
		Jobs       int        `json:"jobs"`
		JobIDs     []int64    `json:"job_ids"`
		Items      []json.RawMessage
	}
	get := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		st.JobIDs, st.Items = nil, nil
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode
	}
	if code := get(http.MethodGet, "/_sim/state"); code != 200 || st.Churn != 1 || st.ChurnStats.Total() != 1 || st.Jobs != len(sim.Jobs()) {
		t.Fatalf("state: %d %+v", code, st)
	}
	var want []int64
	for _, j := range sim.Jobs() {
		want = append(want, j.ID)
	}
	if !slices.Equal(st.JobIDs, want) {
		t.Fatalf("job ids %v, want %v", st.JobIDs, want)
	}
	if len(st.Items) != 0 {
		t.Fatal("items without full=1")
	}
	if code := get(http.MethodGet, "/_sim/state?full=1"); code != 200 || len(st.Items) != st.Jobs {
		t.Fatalf("full state: %d, %d items for %d jobs", code, len(st.Items), st.Jobs)
	}
	for i, j := range sim.Jobs() {
		if !jsonEqual(st.Items[i], j.Raw) {
			t.Fatalf("item %d: %s, want %s", i, st.Items[i], j.Raw)
		}
	}
	if code := get(http.MethodPost, "/_sim/churn?rate=0"); code != 200 || st.Churn != 0 || sim.Churn() != 0 {
		t.Fatalf("set churn: %d %+v", code, st)
	}
	for _, bad := range []string{"", "-1", "x", "NaN", "Inf"} {
		if code := get(http.MethodPost, "/_sim/churn?rate="+bad); code != http.StatusBadRequest {
			t.Errorf("rate %q: %d", bad, code)
		}
	}
	if code := get(http.MethodGet, "/_sim/churn?rate=1"); code == 200 {
		t.Error("GET changes the churn")
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// The unfiltered list serves the cached order itself: every mutation must
// invalidate it, and the answer must match an independent sort, page by page.
func TestUnfilteredListFollowsEveryMutation(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 250, Seed: 9})
	check := func(step string, key string) {
		t.Helper()
		want := expectedOrder(sim.Jobs(), key, false)
		var got []int64
		for page := 1; ; page++ {
			a := signedList(t, srv, url.Values{"page": {strconv.Itoa(page)}, "per_page": {"100"}, "sortBy": {key}})
			if a.Status != http.StatusOK || a.TotalCount != len(want) {
				t.Fatalf("%s: page %d: %d, total %d, want %d jobs", step, page, a.Status, a.TotalCount, len(want))
			}
			if len(a.Jobs) == 0 {
				break
			}
			got = append(got, ids(t, a.Jobs)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: order by %s differs from an independent sort", step, key)
		}
	}
	for _, key := range []string{"create_time", "status", "duration"} {
		check("start", key)
	}
	steps := []struct {
		name string
		do   func()
	}{
		{name: "create", do: func() { sim.CreateJob() }},
		{name: "delete", do: func() { sim.DeleteJob(sim.Jobs()[7].ID) }},
		{name: "set status", do: func() { sim.SetStatus(sim.Jobs()[3].ID, 10, time.Minute) }},
		{name: "churn", do: func() { sim.SetChurn(3); listPages(t, sim, 2); sim.SetChurn(0) }},
		{name: "mutate", do: func() { sim.Mutate(0.2, 4) }},
		{name: "put back", do: func() {
			j, _ := sim.JobState(sim.Jobs()[0].ID)
			sim.DeleteJob(j.ID)
			check("deleted", "status")
			sim.PutJob(j)
		}},
	}
	for _, s := range steps {
		s.do()
		for _, key := range []string{"create_time", "status", "duration"} {
			check(s.name, key)
		}
	}
}

func TestMutateIsDeterministicAndExact(t *testing.T) {
	run := func() (ChurnStats, []fetch.Job, []fetch.Job) {
		sim := New(Options{Jobs: 1000, Seed: 3})
		before := sim.Jobs()
		return sim.Mutate(0.01, 42), before, sim.Jobs()
	}
	st, before, after := run()
	if st != (ChurnStats{StatusChanged: 5, DurationGrown: 5}) {
		t.Fatalf("Mutate = %+v, want 5 status changes and 5 duration changes", st)
	}
	statusChanged, durationOnly := 0, 0
	for i := range before {
		b, a := before[i], after[i]
		switch {
		case b.ID != a.ID || b.CreateTime != a.CreateTime || b.Name != a.Name:
			t.Fatalf("job %d: identity changed", b.ID)
		case b.Status != a.Status:
			statusChanged++
			if a.Duration <= b.Duration {
				t.Errorf("job %d: status changed without its duration growing", b.ID)
			}
		case b.Duration != a.Duration:
			durationOnly++
			if b.ServiceURL != a.ServiceURL {
				t.Errorf("job %d: a duration-only change changed the service URL", b.ID)
			}
		}
	}
	if statusChanged != 5 || durationOnly != 5 {
		t.Errorf("%d status and %d duration-only changes, want 5 and 5", statusChanged, durationOnly)
	}
	if _, _, again := run(); !reflect.DeepEqual(again, after) {
		t.Error("the same seed and share changed other jobs")
	}

	_, srv := newServer(t, Options{Jobs: 300, Seed: 3})
	post := func(q string) (int, ChurnStats) {
		resp, err := http.Post(srv.URL+"/_sim/mutate?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st ChurnStats
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode, st
	}
	if code, st := post("share=0.1&seed=1"); code != 200 || st != (ChurnStats{StatusChanged: 15, DurationGrown: 15}) {
		t.Errorf("POST /_sim/mutate: %d %+v", code, st)
	}
	for _, bad := range []string{"share=2", "share=-0.1", "share=x", "share=0.1&seed=x", ""} {
		if code, _ := post(bad); code != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", bad, code)
		}
	}
}

// Latency delays answers without holding the simulator's lock: concurrent
// requests wait side by side.
func TestLatencyIsConcurrent(t *testing.T) {
	const latency = 150 * time.Millisecond
	_, srv := newServer(t, Options{Jobs: 10, Latency: latency})
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if a := signedList(t, srv, nil); a.Status != http.StatusOK {
				t.Errorf("list: %d", a.Status)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < latency || d > 3*latency {
		t.Errorf("4 concurrent requests took %s with a latency of %s", d, latency)
	}
}
