package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLister is a Lister made of a function.
type fakeLister struct {
	list    func(ctx context.Context, q Query) (*Page, error)
	mu      sync.Mutex // pages requested ahead call ListPage concurrently
	queries []Query
}

func (f *fakeLister) ListPage(ctx context.Context, q Query) (*Page, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return f.list(ctx, q)
}

// pagesOf serves the given pages (1-based) with total as job_total_count;
// pages past the end are empty.
func pagesOf(total int64, pages ...[]int64) *fakeLister {
	return &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		p := &Page{TotalCount: total}
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
		// A full page that reaches the total is confirmed by one more request.
		{"exact multiple, total reached", pagesOf(200, ids(1, 100), ids(101, 100)), WalkOptions{}, 3, EndedTotalReached, "", 200},
		// A total that lies low by exactly the last page does not end the walk early.
		{"total too low on a page boundary", pagesOf(200, ids(1, 100), ids(101, 100), ids(201, 37)), WalkOptions{}, 3, EndedShortPage, "", 237},
		{"total too low by whole pages", pagesOf(100, ids(1, 100), ids(101, 100), ids(201, 100)), WalkOptions{}, 4, EndedTotalReached, "", 300},
		{"exact multiple without a total", pagesOf(0, ids(1, 100), ids(101, 100)), WalkOptions{}, 3, EndedEmptyPage, "", 200},
		{"empty first page", pagesOf(0), WalkOptions{}, 1, EndedEmptyPage, "", 0},
		{"total larger than the listing", pagesOf(1000, ids(1, 10), ids(11, 10)), WalkOptions{PerPage: 10}, 3, EndedEmptyPage, "", 20},
		{"page cap", &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
			return &Page{TotalCount: 1 << 40, Jobs: []Job{{ID: int64(q.Page*2 + 100)}, {ID: int64(q.Page*2 + 101)}}}, nil
		}}, WalkOptions{PerPage: 2, MaxPages: 3}, 3, EndedPageCap, "walk page 3: stopped at the cap of 3 pages (MaxPages)", 6},
		// The page confirming the end may go one past the cap, no further.
		{"total reached at the cap", pagesOf(4, ids(1, 2), ids(3, 2)), WalkOptions{PerPage: 2, MaxPages: 2}, 3, EndedTotalReached, "", 4},
		{"page cap with a lying total", &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
			return &Page{TotalCount: 4, Jobs: []Job{{ID: int64(q.Page*2 + 100)}, {ID: int64(q.Page*2 + 101)}}}, nil
		}}, WalkOptions{PerPage: 2, MaxPages: 2}, 3, EndedPageCap, "walk page 3: stopped at the cap of 2 pages (MaxPages)", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]int64
			res, err := Walk(context.Background(), tt.lister, tt.opts, collect(&got))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Walk error = %v, want %q", err, tt.wantErr)
			}
			var capErr *PageCapError
			if errors.As(err, &capErr) != (tt.endedBy == EndedPageCap) {
				t.Errorf("Walk error %v: errors.As PageCapError = %v, want %v", err, errors.As(err, &capErr), tt.endedBy == EndedPageCap)
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
		p := &Page{TotalCount: totals[q.Page-1]}
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
	want := WalkResult{Pages: 3, FirstTotal: 5, LastTotal: 6, TotalsStable: false,
		Delivered: 3, BadItems: 2, EndedBy: EndedShortPage}
	if !reflect.DeepEqual(res, want) {
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
			return &Page{}, boom
		}
		return &Page{TotalCount: 1000, Jobs: jobsOf(ids(int64(q.Page-1)*100+1, 100))}, nil
	}}
	var got [][]int64
	res, err := Walk(context.Background(), l, WalkOptions{}, collect(&got))
	if !errors.Is(err, ErrServer) || !strings.HasPrefix(err.Error(), "walk page 3: ") {
		t.Fatalf("error = %v, want the page-3 failure", err)
	}
	want := WalkResult{Pages: 2, FirstTotal: 1000, LastTotal: 1000, TotalsStable: true, Delivered: 200}
	if !reflect.DeepEqual(res, want) || len(got) != 2 || len(l.queries) != 3 {
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
		if q.Order == "desc" { // the probe of a verified walk
			return &Page{TotalCount: total, Jobs: jobsOf(ids(total-per+1, per))}, nil
		}
		if q.Page > total/per {
			return &Page{TotalCount: total}, nil
		}
		return &Page{TotalCount: total, Jobs: jobsOf(ids(int64(q.Page-1)*per+1, per))}, nil
	}}
	var peak uint64
	res, err := Walk(context.Background(), l, WalkOptions{PerPage: per, Verify: true}, func(_ context.Context, p *Page) error {
		if len(p.Jobs) > 0 && p.Jobs[0].ID%200_000 == 1 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return nil
	})
	if err != nil || res.Delivered != total || res.Pages != total/per+1 || res.EndedBy != EndedTotalReached ||
		res.Unseen(total) != 0 || res.Created != 0 || res.Baseline.Last.ID != total {
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
			m := new(Meter)
			res, err := Walk(WithMeter(context.Background(), m), h.client, WalkOptions{Status: &st, SortBy: SortJobID, Order: "desc"},
				func(context.Context, *Page) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.Pages != 3 || m.Counts().List != 3 || res.Delivered != 230 || res.FirstTotal != 230 || res.EndedBy != EndedShortPage {
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

// liveList is a listing that changes between requests, as the real one does
// while a client walks it: sorted by create_time then job_id, ties in
// create_time served in id order in both directions (as the simulator does).
type liveList struct {
	jobs     []Job // sorted by KeyOf
	requests int
	after    func(l *liveList, request int) // runs after each answer is computed
}

func (l *liveList) ListPage(_ context.Context, q Query) (*Page, error) {
	l.requests++
	order := slices.Clone(l.jobs)
	if q.Order == "desc" {
		// create_time descending, ties still by id ascending
		slices.SortStableFunc(order, func(a, b Job) int { return cmp.Or(cmp.Compare(b.CreateTime, a.CreateTime), cmp.Compare(a.ID, b.ID)) })
	}
	p := &Page{TotalCount: int64(len(order))}
	if from := (q.Page - 1) * q.PerPage; from < len(order) {
		p.Jobs = append(p.Jobs, order[from:min(from+q.PerPage, len(order))]...)
	}
	if l.after != nil {
		l.after(l, l.requests)
	}
	return p, nil
}

// create appends a job created now: after every other one.
func (l *liveList) create(id int64) {
	last := l.jobs[len(l.jobs)-1]
	l.jobs = append(l.jobs, Job{ID: id, CreateTime: last.CreateTime + 1})
}

// insert adds a job wherever its key sorts.
func (l *liveList) insert(j Job) {
	l.jobs = append(l.jobs, j)
	slices.SortStableFunc(l.jobs, func(a, b Job) int { return KeyOf(a).Compare(KeyOf(b)) })
}

func (l *liveList) deleteAt(i int) { l.jobs = append(l.jobs[:i:i], l.jobs[i+1:]...) }

// newLiveList holds n jobs, ids 1..n; every third one shares the create_time
// of the one before.
func newLiveList(n int) *liveList {
	l := &liveList{}
	ct := int64(1_700_000_000_000)
	for i := 1; i <= n; i++ {
		if i%3 != 0 {
			ct += 1000
		}
		l.jobs = append(l.jobs, Job{ID: int64(i), CreateTime: ct})
	}
	return l
}

// TestWalkVerifyFindsSkips walks a listing that changes between pages and
// checks that Unseen is zero exactly when no job that existed at the start
// was missed. The request numbers: 1 is the probe, 2 is page 1, and so on.
func TestWalkVerifyFindsSkips(t *testing.T) {
	tests := []struct {
		name        string
		after       func(l *liveList, request int)
		unseen      int64
		created     int
		stableTotal bool // what the old check (totals stable, distinct == total) relied on
	}{
		{"no change", nil, 0, 0, true},
		{"creations only", func(l *liveList, r int) {
			if r <= 3 {
				l.create(int64(1000 + r))
			}
		}, 0, 3, false},
		// The case the old check missed: a job already read is deleted and one
		// is created. The total stays 250 and 250 distinct jobs are seen, yet
		// job 101 (first of page 2) shifted onto page 1 and was skipped.
		{"deletion of a read job plus a creation", func(l *liveList, r int) {
			if r == 2 {
				l.deleteAt(4)
				l.create(1000)
			}
		}, 1, 1, true},
		// The same with the new job's create_time skewed: created on another
		// API server, it carries a create_time older than the newest job of the
		// probe, so it sorts before Baseline.Last. It was not on the probe page
		// although its create_time is within the page's range: it is counted
		// as created, and the skip is still found.
		{"deletion of a read job plus a creation with a skewed create_time", func(l *liveList, r int) {
			if r == 2 {
				l.deleteAt(4)
				l.insert(Job{ID: 1000, CreateTime: l.jobs[len(l.jobs)-1].CreateTime - 1500})
			}
		}, 1, 1, true},
		{"deletion of a job not read yet", func(l *liveList, r int) {
			if r == 2 {
				l.deleteAt(200)
			}
		}, 1, 0, false},
		{"deletion after the last page", func(l *liveList, r int) {
			if r == 4 {
				l.deleteAt(0)
			}
		}, 0, 0, true},
		{"a job appears in the middle of the order", func(l *liveList, r int) {
			if r == 2 {
				l.insert(Job{ID: 5000, CreateTime: l.jobs[150].CreateTime})
			}
		}, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLiveList(250)
			l.after = tt.after
			seen := map[int64]bool{}
			res, err := Walk(context.Background(), l, WalkOptions{Verify: true}, func(_ context.Context, p *Page) error {
				for _, j := range p.Jobs {
					seen[j.ID] = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Unseen(int64(len(seen))); got != tt.unseen || res.Created != tt.created {
				t.Errorf("Unseen = %d, Created = %d; want %d, %d (result %+v)", got, res.Created, tt.unseen, tt.created, res)
			}
			oldCheck := res.TotalsStable && int64(len(seen)) == res.LastTotal
			if oldCheck != tt.stableTotal {
				t.Errorf("old check says %v, want %v", oldCheck, tt.stableTotal)
			}
			if res.Baseline.Total != 250 || res.Baseline.Last != (Key{CreateTime: l0Last.CreateTime, ID: 250}) || res.Baseline.Ambiguous {
				t.Errorf("baseline = %+v", res.Baseline)
			}
			if l.requests != res.Pages+1 {
				t.Errorf("%d requests for %d pages, want one more (the probe)", l.requests, res.Pages)
			}
		})
	}
}

// l0Last is the last job of newLiveList(250).
var l0Last = newLiveList(250).jobs[249]

func TestWalkVerifyProbe(t *testing.T) {
	// The newest create_time is shared by jobs 8 and 9, served 8 first in
	// both directions: the last job is the greatest key of the probe page,
	// not its first item.
	l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		if q.Order == "desc" {
			return &Page{TotalCount: 9, Jobs: []Job{{ID: 8, CreateTime: 50}, {ID: 9, CreateTime: 50}, {ID: 7, CreateTime: 40}}}, nil
		}
		jobs := []Job{{ID: 1, CreateTime: 1}, {ID: 2, CreateTime: 2}, {ID: 3, CreateTime: 3}, {ID: 4, CreateTime: 4},
			{ID: 5, CreateTime: 5}, {ID: 6, CreateTime: 6}, {ID: 7, CreateTime: 40}, {ID: 8, CreateTime: 50},
			{ID: 9, CreateTime: 50}, {ID: 10, CreateTime: 50}, {ID: 11, CreateTime: 51}}
		from := (q.Page - 1) * q.PerPage
		return &Page{TotalCount: 11, Jobs: jobs[min(from, len(jobs)):min(from+q.PerPage, len(jobs))]}, nil
	}}
	res, err := Walk(context.Background(), l, WalkOptions{PerPage: 5, Verify: true}, func(context.Context, *Page) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if b := res.Baseline; b.Total != 9 || b.Last != (Key{CreateTime: 50, ID: 9}) || b.Ambiguous || res.Created != 2 || res.Unseen(11) != 0 {
		t.Errorf("result = %+v", res)
	}
	want := []Query{
		{Page: 1, PerPage: 5, SortBy: SortCreateTime, Order: "desc"},
		{Page: 1, PerPage: 5, SortBy: SortCreateTime, Order: "asc"},
		{Page: 2, PerPage: 5, SortBy: SortCreateTime, Order: "asc"},
		{Page: 3, PerPage: 5, SortBy: SortCreateTime, Order: "asc"},
	}
	if !reflect.DeepEqual(l.queries, want) {
		t.Errorf("queries = %+v\nwant %+v", l.queries, want)
	}

	for name, probe := range map[string]*Page{
		"full page of one create_time": {TotalCount: 9, Jobs: []Job{{ID: 1, CreateTime: 7}, {ID: 2, CreateTime: 7}}},
		"undecodable item":             {TotalCount: 9, Jobs: []Job{{ID: 1, CreateTime: 7}}, BadItems: []BadItem{{Index: 1}}},
		"a total and no job":           {TotalCount: 9},
	} {
		l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
			if q.Order == "desc" {
				return probe, nil
			}
			return &Page{}, nil
		}}
		res, err := Walk(context.Background(), l, WalkOptions{PerPage: 2, Verify: true}, func(context.Context, *Page) error { return nil })
		if err != nil || !res.Baseline.Ambiguous {
			t.Errorf("%s: baseline %+v, %v; want ambiguous", name, res.Baseline, err)
		}
	}
	// Every job of a full probe page shares a create_time, but that is all of them: certain.
	l = &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		return &Page{TotalCount: 2, Jobs: []Job{{ID: 1, CreateTime: 7}, {ID: 2, CreateTime: 7}}}, nil
	}}
	if res, _ := Walk(context.Background(), l, WalkOptions{PerPage: 2, Verify: true}, func(context.Context, *Page) error { return nil }); res.Baseline.Ambiguous || res.Baseline.Last.ID != 2 {
		t.Errorf("baseline %+v", res.Baseline)
	}
}

func TestWalkVerifyFailuresAndOptions(t *testing.T) {
	st := 8
	for _, o := range []WalkOptions{
		{Verify: true, SortBy: SortJobName},
		{Verify: true, Order: "desc"},
		{Verify: true, Status: &st},
		{Verify: true, SearchContent: "x"},
	} {
		if _, err := Walk(context.Background(), pagesOf(0), o, nil); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	boom := &APIError{HTTPStatus: 503}
	l := &fakeLister{list: func(context.Context, Query) (*Page, error) { return &Page{}, boom }}
	res, err := Walk(context.Background(), l, WalkOptions{Verify: true}, nil)
	if !errors.Is(err, ErrServer) || !strings.HasPrefix(err.Error(), "newest-jobs baseline: ") || len(l.queries) != 1 || res.Pages != 0 {
		t.Errorf("Walk = %+v, %v", res, err)
	}
}

// Malformed items with a job_id and a create_time are placed like jobs; one
// that cannot be placed counts as created (the walk can only look less
// complete), and on the probe page it makes the baseline ambiguous.
func TestWalkVerifyPlacesMalformedItems(t *testing.T) {
	id := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		probeBad  []BadItem
		walkBad   []BadItem
		ambiguous bool
		last      Key
		created   int
	}{
		{"old malformed job", nil, []BadItem{{JobID: id(3), CreateTime: id(30)}}, false, Key{50, 5}, 0},
		{"newest job malformed", []BadItem{{JobID: id(6), CreateTime: id(60)}}, []BadItem{{JobID: id(6), CreateTime: id(60)}}, false, Key{60, 6}, 0},
		{"malformed job created during the walk", nil, []BadItem{{JobID: id(7), CreateTime: id(70)}}, false, Key{50, 5}, 1},
		{"malformed job of unknown create_time", nil, []BadItem{{JobID: id(3)}}, false, Key{50, 5}, 1},
		{"malformed job without an id", nil, []BadItem{{CreateTime: id(30)}}, false, Key{50, 5}, 0},
		{"probe page holds an item it cannot place", []BadItem{{JobID: id(6)}}, nil, true, Key{50, 5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe := &Page{TotalCount: 5, Jobs: []Job{{ID: 5, CreateTime: 50}, {ID: 4, CreateTime: 40}}, BadItems: tt.probeBad}
			l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
				if q.Order == "desc" {
					return probe, nil
				}
				return &Page{TotalCount: 5, Jobs: []Job{{ID: 1, CreateTime: 10}, {ID: 5, CreateTime: 50}}, BadItems: tt.walkBad}, nil
			}}
			res, err := Walk(context.Background(), l, WalkOptions{PerPage: 10, Verify: true}, func(context.Context, *Page) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.Baseline.Ambiguous != tt.ambiguous || res.Baseline.Last != tt.last || res.Created != tt.created {
				t.Errorf("baseline %+v, created %d; want ambiguous %v, last %v, created %d", res.Baseline, res.Created, tt.ambiguous, tt.last, tt.created)
			}
		})
	}
}

// syncList serves a Lister to concurrent callers one at a time, after a
// delay of its own per request, and records how many requests overlapped.
type syncList struct {
	inner Lister
	delay func(q Query) time.Duration

	mu          sync.Mutex
	queries     []Query
	inFlight    int
	maxInFlight int
}

func (s *syncList) ListPage(ctx context.Context, q Query) (*Page, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.delay != nil {
		t := time.NewTimer(s.delay(q))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return &Page{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner.ListPage(ctx, q)
}

func (s *syncList) stats() (requests, maxInFlight, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries), s.maxInFlight, s.inFlight
}

// With Concurrency, pages still reach fn one at a time and in page order,
// no more requests are made than by a sequential walk of a listing that does
// not change, and at most Concurrency requests overlap.
func TestWalkConcurrentKeepsOrderAndRequests(t *testing.T) {
	for _, n := range []int{0, 37, 1000, 1050} {
		for _, k := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("%d jobs, %d at once", n, k), func(t *testing.T) {
				t.Parallel()
				live := newLiveList(max(n, 1))
				if n == 0 {
					live.jobs = nil
				}
				// Later pages answer sooner: they arrive out of order.
				l := &syncList{inner: live, delay: func(q Query) time.Duration { return time.Duration(20-q.Page%20) * time.Millisecond / 4 }}
				var got []int64
				running := false
				res, err := Walk(context.Background(), l, WalkOptions{Verify: true, Concurrency: k}, func(_ context.Context, p *Page) error {
					if running {
						t.Error("fn called while it runs")
					}
					running = true
					defer func() { running = false }()
					for _, j := range p.Jobs {
						got = append(got, j.ID)
					}
					time.Sleep(time.Millisecond)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := ids(1, int64(n)); !slices.Equal(got, want) && n > 0 || n == 0 && len(got) != 0 {
					t.Fatalf("delivered %d jobs out of order or incomplete, want 1..%d", len(got), n)
				}
				// The probe, the pages with jobs, and the empty page that confirms a full last one.
				pages := n/100 + 1
				requests, maxInFlight, inFlight := l.stats()
				if requests != pages+1 || res.Pages != pages || res.Unseen(int64(n)) != 0 {
					t.Errorf("%d requests (result %+v), want %d pages and the probe", requests, res, pages)
				}
				if maxInFlight > k || (k > 1 && pages > 2 && maxInFlight < 2) || inFlight != 0 {
					t.Errorf("%d requests overlapped at most (%d still running), concurrency %d", maxInFlight, inFlight, k)
				}
			})
		}
	}
}

// A failing page ends a concurrent walk with the pages before it delivered;
// the pages requested ahead are cancelled and waited for.
func TestWalkConcurrentErrorKeepsProgress(t *testing.T) {
	boom := &APIError{HTTPStatus: 503, Code: "ModelArts.0010", Attempts: 5}
	inner := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		if q.Page == 3 {
			return &Page{}, boom
		}
		return &Page{TotalCount: 1000, Jobs: jobsOf(ids(int64(q.Page-1)*100+1, 100))}, nil
	}}
	l := &syncList{inner: inner, delay: func(q Query) time.Duration {
		if q.Page > 3 {
			return time.Hour // in flight when page 3 fails
		}
		return time.Millisecond
	}}
	var got [][]int64
	res, err := Walk(context.Background(), l, WalkOptions{Concurrency: 4}, collect(&got))
	if !errors.Is(err, ErrServer) || !strings.HasPrefix(err.Error(), "walk page 3: ") {
		t.Fatalf("error = %v, want the page-3 failure", err)
	}
	requests, _, inFlight := l.stats()
	if res.Pages != 2 || len(got) != 2 || res.Delivered != 200 || inFlight != 0 || requests < 3 {
		t.Errorf("result = %+v after %d requests (%d still running), %d pages delivered", res, requests, inFlight, len(got))
	}

	// A failing fn stops it the same way.
	l = &syncList{inner: pagesOf(1000, ids(1, 100), ids(101, 100), ids(201, 100), ids(301, 100))}
	calls := 0
	res, err = Walk(context.Background(), l, WalkOptions{Concurrency: 4}, func(context.Context, *Page) error {
		if calls++; calls == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if _, _, inFlight := l.stats(); err == nil || err.Error() != "walk page 2: disk full" || res.Pages != 2 || inFlight != 0 {
		t.Errorf("Walk = %+v, %v; want it stopped at page 2", res, err)
	}
}

// Verification does not depend on the order pages are read in: whatever the
// concurrency and however jobs are created and deleted during the walk,
// Unseen is exactly the number of jobs listed at the probe that the walk did
// not deliver.
func TestWalkConcurrentVerifyIsExact(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var mu sync.Mutex // rng serves the delays of concurrent requests and the changes
		random := func(n int) int {
			mu.Lock()
			defer mu.Unlock()
			return rng.IntN(n)
		}
		live := newLiveList(150 + random(400))
		var atProbe []int64
		nextID := int64(10_000)
		live.after = func(l *liveList, request int) { // runs under syncList's lock
			if request == 1 {
				for _, j := range l.jobs {
					atProbe = append(atProbe, j.ID)
				}
			}
			switch r := random(10); {
			case r < 2 && len(l.jobs) > 1:
				l.deleteAt(random(len(l.jobs)))
			case r < 4:
				nextID++
				l.create(nextID)
			}
		}
		l := &syncList{inner: live, delay: func(Query) time.Duration { return time.Duration(random(3)) * time.Millisecond }}
		seen := map[int64]bool{}
		res, err := Walk(context.Background(), l, WalkOptions{Verify: true, Concurrency: 1 + int(seed%5)}, func(_ context.Context, p *Page) error {
			for _, j := range p.Jobs {
				seen[j.ID] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		missed := 0
		for _, id := range atProbe {
			if !seen[id] {
				missed++
			}
		}
		if got := res.Unseen(int64(len(seen))); got != int64(missed) {
			t.Errorf("seed %d: Unseen = %d, but %d of the %d jobs listed at the probe were not delivered (result %+v)",
				seed, got, missed, len(atProbe), res)
		}
	}
}

// WalkBatches hands a slow fn the pages fetched meanwhile, in order and at
// most MaxBatch at a time; a failing page comes after every page before it
// was handed over. The pages and fn take their time on synctest's clock, so
// the batch sizes do not depend on how busy the machine is.
func TestWalkBatches(t *testing.T) { synctest.Test(t, testWalkBatches) }

func testWalkBatches(t *testing.T) {
	inner := pagesOf(1000, func() [][]int64 {
		var pages [][]int64
		for p := range int64(10) {
			pages = append(pages, ids(p*100+1, 100))
		}
		return pages
	}()...)
	l := &syncList{inner: inner, delay: func(Query) time.Duration { return time.Millisecond }}
	var got []int64
	var sizes []int
	res, err := WalkBatches(context.Background(), l, WalkOptions{Concurrency: 4, MaxBatch: 3}, func(_ context.Context, pages []*Page) error {
		sizes = append(sizes, len(pages))
		for _, p := range pages {
			for _, j := range p.Jobs {
				got = append(got, j.ID)
			}
		}
		time.Sleep(30 * time.Millisecond) // a slow write: the next pages arrive meanwhile
		return nil
	})
	if err != nil || !slices.Equal(got, ids(1, 1000)) || res.Pages != 11 || res.EndedBy != EndedTotalReached {
		t.Fatalf("WalkBatches = %+v, %v; %d jobs delivered", res, err, len(got))
	}
	if slices.Max(sizes) != 3 || sizes[0] != 1 || len(sizes) > 6 {
		t.Errorf("batch sizes %v: want the first page alone, then batches of up to 3", sizes)
	}

	// Page 7 fails: pages 1 to 6 are handed over first, however they were batched.
	boom := &APIError{HTTPStatus: 503}
	failing := &syncList{inner: &fakeLister{list: func(ctx context.Context, q Query) (*Page, error) {
		if q.Page == 7 {
			return &Page{}, boom
		}
		return inner.ListPage(ctx, q)
	}}}
	got = got[:0]
	res, err = WalkBatches(context.Background(), failing, WalkOptions{Concurrency: 4, MaxBatch: 4}, func(_ context.Context, pages []*Page) error {
		for _, p := range pages {
			for _, j := range p.Jobs {
				got = append(got, j.ID)
			}
		}
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if !errors.Is(err, ErrServer) || !strings.HasPrefix(err.Error(), "walk page 7: ") || !slices.Equal(got, ids(1, 600)) || res.Pages != 6 {
		t.Errorf("WalkBatches = %+v, %v; %d jobs delivered, want pages 1-6 then the page-7 failure", res, err, len(got))
	}

	// A failing fn names the pages of its batch.
	_, err = WalkBatches(context.Background(), &syncList{inner: inner}, WalkOptions{Concurrency: 4, MaxBatch: 4}, func(_ context.Context, pages []*Page) error {
		time.Sleep(20 * time.Millisecond)
		if len(pages) > 1 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil || !regexp.MustCompile(`^walk pages \d+-\d+: disk full$`).MatchString(err.Error()) {
		t.Errorf("error = %v, want it to name the pages of the batch", err)
	}
}

// TestEndOfPage is the stop rule of a walk, case by case.
func TestEndOfPage(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		page, items, perPage, maxPages int
		total                          int64
		confirming                     bool
		want                           pageEnd
	}{
		{name: "short page ends", page: 3, items: 40, perPage: 100, maxPages: 10, total: 240, want: pageEnd{endedBy: EndedShortPage}},
		{name: "empty page ends", page: 1, items: 0, perPage: 100, maxPages: 10, total: 0, want: pageEnd{endedBy: EndedEmptyPage}},
		{name: "empty page after a confirming one", page: 3, items: 0, perPage: 100, maxPages: 10, total: 200, confirming: true, want: pageEnd{endedBy: EndedTotalReached}},
		{name: "full page below its total goes on", page: 1, items: 100, perPage: 100, maxPages: 10, total: 250, want: pageEnd{}},
		{name: "full page reaching its total asks for one more", page: 2, items: 100, perPage: 100, maxPages: 10, total: 200, want: pageEnd{confirming: true}},
		{name: "a total that lies low does not end the walk", page: 2, items: 100, perPage: 100, maxPages: 10, total: 50, want: pageEnd{confirming: true}},
		{name: "unknown total goes on", page: 2, items: 100, perPage: 100, maxPages: 10, total: 0, want: pageEnd{}},
		{name: "cap reached with the listing going on", page: 10, items: 100, perPage: 100, maxPages: 10, total: 5000, want: pageEnd{endedBy: EndedPageCap, overCap: true}},
		{name: "cap page that reaches its total may confirm", page: 10, items: 100, perPage: 100, maxPages: 10, total: 1000, want: pageEnd{confirming: true}},
		{name: "past the cap even when confirming", page: 11, items: 100, perPage: 100, maxPages: 10, total: 1000, want: pageEnd{endedBy: EndedPageCap, confirming: true, overCap: true}},
		{name: "short page at the cap ends normally", page: 10, items: 5, perPage: 100, maxPages: 10, total: 905, want: pageEnd{endedBy: EndedShortPage}},
	} {
		if got := endOfPage(tc.page, tc.items, tc.perPage, tc.maxPages, tc.total, tc.confirming); got != tc.want {
			t.Errorf("%s: endOfPage = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A failure to store the page that reaches the cap is that failure, not a PageCapError: a caller
// that caps a listing on purpose must not take a lost write for the cap.
func TestWalkStoreFailureAtTheCapIsNotTheCap(t *testing.T) {
	lister := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		return &Page{TotalCount: 1 << 40, Jobs: []Job{{ID: int64(q.Page*2 + 100)}, {ID: int64(q.Page*2 + 101)}}}, nil
	}}
	stored := errors.New("database unavailable")
	_, err := Walk(context.Background(), lister, WalkOptions{PerPage: 2, MaxPages: 2}, func(_ context.Context, p *Page) error {
		if p.Jobs[0].ID == 2*2+100 { // page 2, the last one the cap allows
			return stored
		}
		return nil
	})
	var capErr *PageCapError
	if !errors.Is(err, stored) || errors.As(err, &capErr) {
		t.Fatalf("Walk = %v, want the store's error and no PageCapError", err)
	}
}
