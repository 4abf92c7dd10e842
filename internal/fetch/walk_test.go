package fetch

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// fakeLister is a Lister made of a function.
type fakeLister struct {
	list    func(ctx context.Context, q Query) (*Page, error)
	queries []Query
}

func (f *fakeLister) ListPage(ctx context.Context, q Query) (*Page, error) {
	f.queries = append(f.queries, q)
	return f.list(ctx, q)
}

// pagesOf serves the given pages (1-based) with total as job_total_count;
// pages past the end are empty.
func pagesOf(total int64, pages ...[]int64) *fakeLister {
	return &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		p := &Page{TotalCount: total, HTTPRequests: 1}
		if q.Page <= len(pages) {
			for _, id := range pages[q.Page-1] {
				p.Jobs = append(p.Jobs, Job{ID: id})
			}
		}
		return p, nil
	}}
}

// ids returns n consecutive ids from first.
func ids(first, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

func collect(got *[][]int64) func(context.Context, *Page) error {
	return func(_ context.Context, p *Page) error {
		var page []int64
		for _, j := range p.Jobs {
			page = append(page, j.ID)
		}
		*got = append(*got, page)
		return nil
	}
}

func TestWalkStopConditions(t *testing.T) {
	tests := []struct {
		name     string
		lister   *fakeLister
		opts     WalkOptions
		pages    int
		endedBy  string
		wantErr  string
		delivers int
	}{
		{"short page", pagesOf(250, ids(1, 100), ids(101, 100), ids(201, 50)), WalkOptions{}, 3, EndedShortPage, "", 250},
		{"exact multiple, total reached", pagesOf(200, ids(1, 100), ids(101, 100)), WalkOptions{}, 2, EndedTotalReached, "", 200},
		{"exact multiple without a total", pagesOf(0, ids(1, 100), ids(101, 100)), WalkOptions{}, 3, EndedEmptyPage, "", 200},
		{"empty first page", pagesOf(0), WalkOptions{}, 1, EndedEmptyPage, "", 0},
		{"total larger than the listing", pagesOf(1000, ids(1, 10), ids(11, 10)), WalkOptions{PerPage: 10}, 3, EndedEmptyPage, "", 20},
		{"page cap", &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
			return &Page{TotalCount: 1 << 40, Jobs: []Job{{ID: int64(q.Page*2 + 100)}, {ID: int64(q.Page*2 + 101)}}}, nil
		}}, WalkOptions{PerPage: 2, MaxPages: 3}, 3, EndedPageCap, "walk page 3: stopped at the cap of 3 pages (MaxPages)", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]int64
			res, err := Walk(context.Background(), tt.lister, tt.opts, collect(&got))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Walk error = %v, want %q", err, tt.wantErr)
			}
			if res.Pages != tt.pages || res.EndedBy != tt.endedBy || res.Delivered != tt.delivers || len(tt.lister.queries) != tt.pages {
				t.Errorf("result = %+v after %d requests; want %d pages ended by %s delivering %d",
					res, len(tt.lister.queries), tt.pages, tt.endedBy, tt.delivers)
			}
			per := cmp.Or(tt.opts.PerPage, 100)
			for i, q := range tt.lister.queries {
				want := Query{Page: i + 1, PerPage: per, SortBy: SortCreateTime, Order: "asc"}
				if !reflect.DeepEqual(q, want) {
					t.Errorf("query %d = %+v, want %+v", i, q, want)
				}
			}
		})
	}
}

func TestWalkCollapsesDuplicates(t *testing.T) {
	// Page 2 repeats 4 from page 1 and 5 within itself; page 3 repeats 6 from
	// page 2 and 1 from page 1, which only two pages of memory let through.
	l := pagesOf(10, []int64{1, 2, 3, 4}, []int64{4, 5, 5, 6}, []int64{6, 1, 7})
	var got [][]int64
	res, err := Walk(context.Background(), l, WalkOptions{PerPage: 4}, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int64{{1, 2, 3, 4}, {5, 6}, {1, 7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	if res.Delivered != 8 || res.Duplicates != 3 || res.EndedBy != EndedShortPage {
		t.Errorf("result = %+v, want 8 delivered, 3 duplicates, short page", res)
	}
}

func TestWalkCountsAndTotals(t *testing.T) {
	totals := []int64{5, 5, 6}
	l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		p := &Page{TotalCount: totals[q.Page-1], HTTPRequests: q.Page, RetriesNeeded: q.Page - 1}
		p.Jobs = []Job{{ID: int64(q.Page)}}
		if q.Page < 3 {
			p.BadItems = []BadItem{{Index: 1, Raw: []byte(`"x"`), Reason: "want a JSON object, got string"}}
		}
		return p, nil
	}}
	res, err := Walk(context.Background(), l, WalkOptions{PerPage: 2}, func(context.Context, *Page) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := WalkResult{Pages: 3, Requests: 6, Retries: 3, FirstTotal: 5, LastTotal: 6, TotalsStable: false,
		Delivered: 3, BadItems: 2, EndedBy: EndedShortPage}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	// Bad items count toward the page size: a full page of one job and one bad
	// item is not the last page.
	if len(l.queries) != 3 {
		t.Errorf("%d pages requested, want 3", len(l.queries))
	}
	res, _ = Walk(context.Background(), pagesOf(3, ids(1, 1), ids(2, 1), ids(3, 1)), WalkOptions{PerPage: 1}, func(context.Context, *Page) error { return nil })
	if !res.TotalsStable || res.FirstTotal != 3 || res.LastTotal != 3 || res.EndedBy != EndedTotalReached {
		t.Errorf("stable walk = %+v", res)
	}
}

func TestWalkErrorKeepsProgress(t *testing.T) {
	boom := &APIError{HTTPStatus: 503, Code: "ModelArts.0010", Attempts: 5}
	l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		if q.Page == 3 {
			return &Page{HTTPRequests: 5, RetriesNeeded: 4}, boom
		}
		return &Page{TotalCount: 1000, HTTPRequests: 1, Jobs: jobsOf(ids(int64(q.Page-1)*100+1, 100))}, nil
	}}
	var got [][]int64
	res, err := Walk(context.Background(), l, WalkOptions{}, collect(&got))
	if !errors.Is(err, ErrServer) || !strings.HasPrefix(err.Error(), "walk page 3: ") {
		t.Fatalf("error = %v, want the page-3 failure", err)
	}
	want := WalkResult{Pages: 2, Requests: 7, Retries: 4, FirstTotal: 1000, LastTotal: 1000, TotalsStable: true, Delivered: 200}
	if res != want || len(got) != 2 {
		t.Errorf("result = %+v with %d pages delivered, want %+v", res, len(got), want)
	}

	// A failing fn stops the walk too.
	calls := 0
	res, err = Walk(context.Background(), pagesOf(300, ids(1, 100), ids(101, 100), ids(201, 100)), WalkOptions{},
		func(_ context.Context, p *Page) error {
			calls++
			if calls == 2 {
				return errors.New("disk full")
			}
			return nil
		})
	if err == nil || err.Error() != "walk page 2: disk full" || res.Pages != 2 || calls != 2 {
		t.Errorf("Walk = %+v, %v; want it stopped at page 2", res, err)
	}
}

func jobsOf(ids []int64) []Job {
	jobs := make([]Job, len(ids))
	for i, id := range ids {
		jobs[i] = Job{ID: id}
	}
	return jobs
}

func TestWalkRejectsNegativeOptions(t *testing.T) {
	if _, err := Walk(context.Background(), pagesOf(0), WalkOptions{PerPage: -1}, nil); err == nil {
		t.Error("negative PerPage accepted")
	}
}

// A million jobs walk with the memory of two pages.
func TestWalkMillionJobsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long walk")
	}
	const total, per = 1_000_000, 100
	l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		return &Page{TotalCount: total, Jobs: jobsOf(ids(int64(q.Page-1)*per+1, per))}, nil
	}}
	var peak uint64
	res, err := Walk(context.Background(), l, WalkOptions{PerPage: per}, func(_ context.Context, p *Page) error {
		if p.Jobs[0].ID%200_000 == 1 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return nil
	})
	if err != nil || res.Delivered != total || res.Pages != total/per || res.EndedBy != EndedTotalReached {
		t.Fatalf("Walk = %+v, %v", res, err)
	}
	if peak > 32<<20 {
		t.Errorf("heap reached %d bytes during the walk, want it bounded", peak)
	}
}

// The walker against the real client and an HTTP server, both auth modes.
func TestWalkOverHTTP(t *testing.T) {
	for _, mode := range []string{AuthAKSK, AuthToken} {
		t.Run(mode, func(t *testing.T) {
			api := &fakeJobs{n: 230}
			h := newHarness(t, mode, api, nil)
			st := 7
			res, err := Walk(context.Background(), h.client, WalkOptions{Status: &st, SortBy: SortJobID, Order: "desc"},
				func(context.Context, *Page) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.Pages != 3 || res.Requests != 3 || res.Delivered != 230 || res.FirstTotal != 230 || res.EndedBy != EndedShortPage {
				t.Errorf("walk = %+v", res)
			}
			queries, _ := api.recorded()
			sortParam := map[string]string{AuthAKSK: "sortBy", AuthToken: "sort_by"}[mode]
			for i, q := range queries {
				if q[sortParam][0] != "job_id" || q["order"][0] != "desc" || q["status"][0] != "7" || q["per_page"][0] != "100" {
					t.Errorf("request %d query = %v", i, q)
				}
			}
		})
	}
}
