package simulator

import (
	"context"
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
