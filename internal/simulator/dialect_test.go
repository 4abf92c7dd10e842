package simulator

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

func dialectClient(t *testing.T, srvURL string) *fetch.Client {
	t.Helper()
	c, err := fetch.New(fetch.Config{Endpoint: srvURL, ProjectID: DefaultProjectID, AK: DefaultAK, SK: DefaultSK, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDialectNotFound: each answer for a missing job, as the client's rule
// classifies it.
func TestDialectNotFound(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		evidence  bool // a recognised not-found
		existOK   bool // an existing job is still served
		wantShape fetch.NotFoundShape
	}{
		{NotFound404, true, true, fetch.NotFoundShape{HTTPStatus: 404, Code: "ModelArts.0105"}},
		{NotFound400, true, true, fetch.NotFoundShape{HTTPStatus: 400, Code: "ModelArts.2764"}},
		{NotFoundUnpublished, false, false, fetch.NotFoundShape{}},
		{NotFoundHTML, false, true, fetch.NotFoundShape{}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			sim, srv := newServer(t, Options{Jobs: 5, Seed: 3, Dialect: Dialect{NotFound: tc.mode}})
			c := dialectClient(t, srv.URL)
			ctx := context.Background()
			_, err := c.GetJob(ctx, 1<<60)
			shape, ok := fetch.JobNotFound(err)
			if ok != tc.evidence || shape != tc.wantShape {
				t.Errorf("missing job: %v -> %v %v", err, shape, ok)
			}
			j, err := c.GetJob(ctx, sim.Jobs()[2].ID)
			if tc.existOK != (err == nil) {
				t.Errorf("existing job: %v", err)
			}
			if err == nil && j.ID != sim.Jobs()[2].ID {
				t.Errorf("existing job: got %d", j.ID)
			}
			if _, ok := fetch.JobNotFound(err); ok {
				t.Errorf("an existing job is evidence of a deletion: %v", err)
			}
		})
	}
}

func TestDialectSearchAndSkew(t *testing.T) {
	ctx := context.Background()
	search := func(c *fetch.Client, q string) []int64 {
		p, err := c.ListPage(ctx, fetch.Query{Page: 1, PerPage: 100, SearchContent: q})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, j := range p.Jobs {
			ids = append(ids, j.ID)
		}
		slices.Sort(ids)
		return ids
	}
	sim, srv := newServer(t, Options{Jobs: 0})
	c := dialectClient(t, srv.URL)
	a := sim.CreateJob()
	sim.UpdateJob(a.ID, func(j *JobState) { j.Name, j.Desc = "tb-resnet", "plain" })
	b := sim.CreateJob()
	sim.UpdateJob(b.ID, func(j *JobState) { j.Name, j.Desc = "tb-resnet-v2", "copy of TB-RESNET" })
	d := sim.CreateJob()
	sim.UpdateJob(d.ID, func(j *JobState) { j.Name, j.Desc = "bert", "see tb-resnet" })
	all := []int64{a.ID, b.ID, d.ID}
	for _, tc := range []struct {
		mode string
		want []int64
	}{
		{SearchName, []int64{a.ID, b.ID}},
		{SearchNameDesc, all},
		{SearchExact, []int64{a.ID}},
		{SearchIgnored, all},
		{SearchNothing, nil},
	} {
		if err := sim.SetDialect(Dialect{Search: tc.mode}); err != nil {
			t.Fatal(err)
		}
		if got := search(c, "tb-resnet"); !slices.Equal(got, tc.want) {
			t.Errorf("search %s: %v, want %v", tc.mode, got, tc.want)
		}
	}

	if err := sim.SetDialect(Dialect{CreateSkew: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	newest := d.CreateTime
	older := 0
	for range 50 {
		j := sim.CreateJob()
		if j.CreateTime > newest || j.CreateTime < newest-3000 {
			t.Fatalf("skewed create_time %d outside [%d, %d]", j.CreateTime, newest-3000, newest)
		}
		if j.CreateTime < newest {
			older++
		}
	}
	if older == 0 {
		t.Error("no job created with a skewed create_time")
	}
	if _, err := ParseDialect("not-found=500"); err == nil {
		t.Error("ParseDialect accepted not-found=500")
	}
	if d, err := ParseDialect("not-found=400, search=name_desc,create-skew=2s"); err != nil || d != (Dialect{NotFound: NotFound400, Search: SearchNameDesc, CreateSkew: 2 * time.Second}) {
		t.Errorf("ParseDialect: %+v %v", d, err)
	}
}

// TestDialectPages: what each pages dialect answers for the first pages, the last, one past it
// (1000 jobs: exactly 10 full pages) and a request without page.
func TestDialectPages(t *testing.T) {
	ctx := context.Background()
	sim, srv := newServer(t, Options{Jobs: 1000, Seed: 5})
	c := dialectClient(t, srv.URL)
	all := make([]int64, 0, 1000)
	for _, j := range sim.Jobs() { // id order is create_time order in a generated listing
		all = append(all, j.ID)
	}
	page := func(n int) []int64 { return all[(n-1)*100 : n*100] }
	type answer struct {
		ids    []int64
		status int // 0: the page was served
	}
	list := func(q fetch.Query) answer {
		q.PerPage, q.SortBy = 100, fetch.SortCreateTime
		p, err := c.ListPage(ctx, q)
		if err != nil {
			var ae *fetch.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("page %d: %v", q.Page, err)
			}
			return answer{status: ae.HTTPStatus}
		}
		ids := []int64{}
		for _, j := range p.Jobs {
			ids = append(ids, j.ID)
		}
		return answer{ids: ids}
	}
	for _, tc := range []struct {
		mode                      string
		omitted, p1, p2, p10, p11 answer
	}{
		{PagesDocumented, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(2)}, answer{ids: page(10)}, answer{ids: []int64{}}},
		{PagesClamp, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(2)}, answer{ids: page(10)}, answer{ids: page(10)}},
		{PagesIgnore, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(1)}},
		{PagesError400, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(2)}, answer{ids: page(10)}, answer{status: 400}},
		{PagesError404, answer{ids: page(1)}, answer{ids: page(1)}, answer{ids: page(2)}, answer{ids: page(10)}, answer{status: 404}},
		{PagesZeroBased, answer{ids: page(1)}, answer{ids: page(2)}, answer{ids: page(3)}, answer{ids: []int64{}}, answer{ids: []int64{}}},
	} {
		if err := sim.SetDialect(Dialect{Pages: tc.mode}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			name string
			q    fetch.Query
			want answer
		}{
			{"omitted", fetch.Query{OmitPage: true}, tc.omitted},
			{"1", fetch.Query{Page: 1}, tc.p1},
			{"2", fetch.Query{Page: 2}, tc.p2},
			{"10", fetch.Query{Page: 10}, tc.p10},
			{"11", fetch.Query{Page: 11}, tc.p11},
		} {
			if got := list(q.q); got.status != q.want.status || !slices.Equal(got.ids, q.want.ids) {
				t.Errorf("pages=%s, page %s: status %d, %d jobs from %v; want status %d, %d jobs from %v",
					tc.mode, q.name, got.status, len(got.ids), head(got.ids), q.want.status, len(q.want.ids), head(q.want.ids))
			}
		}
	}
	if err := sim.SetDialect(Dialect{PerPageCap: 30}); err != nil {
		t.Fatal(err)
	}
	if got := list(fetch.Query{Page: 2}); !slices.Equal(got.ids, all[30:60]) {
		t.Errorf("per-page-cap=30, page 2: %d jobs from %v, want 30 from %v", len(got.ids), head(got.ids), head(all[30:60]))
	}
	// An empty listing answers page 1 in every dialect.
	empty, srv2 := newServer(t, Options{Jobs: 0})
	c = dialectClient(t, srv2.URL)
	for _, mode := range PagesModes() {
		if err := empty.SetDialect(Dialect{Pages: mode}); err != nil {
			t.Fatal(err)
		}
		if got := list(fetch.Query{Page: 1}); got.status != 0 || len(got.ids) != 0 {
			t.Errorf("pages=%s, empty listing, page 1: %+v", mode, got)
		}
	}
	if d, err := ParseDialect("pages=zero-based"); err != nil || d.Pages != PagesZeroBased {
		t.Errorf("ParseDialect(pages=zero-based): %+v %v", d, err)
	}
	if d, err := ParseDialect("per-page-cap=50"); err != nil || d.PerPageCap != 50 {
		t.Errorf("ParseDialect(per-page-cap=50): %+v %v", d, err)
	}
	if _, err := ParseDialect("pages=sideways"); err == nil {
		t.Error("ParseDialect accepted pages=sideways")
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 3)] }
