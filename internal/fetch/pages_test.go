package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// pagesLister serves n jobs (ids 1..n), per_page at most capPerPage (0: as asked), reading page as
// the dialects of the simulator's Dialect.Pages do (internal/simulator/dialect.go; the simulator
// itself cannot be imported here).
func pagesLister(mode string, n, capPerPage int) *fakeLister {
	return &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		per := q.PerPage
		if capPerPage > 0 {
			per = min(per, capPerPage)
		}
		pages := (n + per - 1) / per
		past := q.Page > max(pages, 1)
		idx := q.Page - 1
		switch {
		case mode == "ignore":
			idx = 0
		case mode == "clamp" && past:
			idx = max(pages, 1) - 1
		case mode == "error400" && past:
			return &Page{}, &APIError{HTTPStatus: 400, Code: "ModelArts.0104", Message: "Parameter error: page is out of range"}
		case mode == "error404" && past:
			return &Page{}, &APIError{HTTPStatus: 404, Message: "Not Found"}
		case mode == "zero-based":
			idx = q.Page
		}
		p := &Page{TotalCount: int64(n)}
		for id := idx*per + 1; id <= min((idx+1)*per, n); id++ {
			p.Jobs = append(p.Jobs, Job{ID: int64(id)})
		}
		return p, nil
	}}
}

// TestWalkEndsOnEveryPagesAnswer: with 1000 jobs (10 full pages) and 1001, a walk ends on every
// plausible answer about pages, after at most one page past the total; where the pages can be
// walked it delivers every job, elsewhere it stops with a *PagesError naming the pages.
func TestWalkEndsOnEveryPagesAnswer(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		jobs       int
		requests   int // sequential walk
		delivered  int
		endedBy    string
		pagesError string // in the *PagesError, "": none
	}{
		{"documented", 1000, 11, 1000, EndedTotalReached, ""},
		{"documented", 1001, 11, 1001, EndedShortPage, ""},
		{"documented", 100, 2, 100, EndedTotalReached, ""},
		{"clamp", 1000, 11, 1000, EndedRepeatedPage, ""},
		{"clamp", 1001, 11, 1001, EndedShortPage, ""},
		{"clamp", 100, 2, 100, EndedRepeatedPage, ""},
		{"error400", 1000, 11, 1000, EndedRefusedPage, ""},
		{"error400", 1001, 11, 1001, EndedShortPage, ""},
		{"error404", 1000, 11, 1000, EndedRefusedPage, ""},
		{"ignore", 1000, 2, 100, "", "page 2 answered the same 100 jobs as page 1 although job_total_count 1000 announces 10 pages"},
		{"ignore", 1001, 2, 100, "", "does not honour the page parameter"},
		{"ignore", 100, 2, 100, EndedRepeatedPage, ""}, // one page: nothing was skipped
		{"ignore", 99, 1, 99, EndedShortPage, ""},
		{"zero-based", 1000, 10, 900, "", "ended at page 10 after 900 jobs while job_total_count says 1000: exactly one page short"},
		{"zero-based", 1001, 10, 901, "", "pages counted from 0"},
		{"zero-based", 50, 1, 0, "", "ended at page 1 after 0 jobs"},
		{"zero-based", 0, 1, 0, EndedEmptyPage, ""},
	} {
		for _, conc := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/%d/concurrency=%d", tc.mode, tc.jobs, conc), func(t *testing.T) {
				l := pagesLister(tc.mode, tc.jobs, 0)
				seen := map[int64]bool{}
				res, err := Walk(context.Background(), l, WalkOptions{Concurrency: conc}, func(_ context.Context, p *Page) error {
					for _, j := range p.Jobs {
						seen[j.ID] = true
					}
					return nil
				})
				var pe *PagesError
				if tc.pagesError == "" && err != nil || tc.pagesError != "" && (!errors.As(err, &pe) || !strings.Contains(err.Error(), tc.pagesError)) {
					t.Fatalf("Walk = %v, want a PagesError saying %q", err, tc.pagesError)
				}
				if len(seen) != tc.delivered || res.EndedBy != tc.endedBy {
					t.Errorf("delivered %d jobs, ended by %q; want %d, %q (%+v)", len(seen), res.EndedBy, tc.delivered, tc.endedBy, res)
				}
				// Sequentially, exactly the requests named; requested ahead, never past the total's
				// confirming page plus the window of the pages requested ahead.
				if n := len(l.queries); conc == 1 && n != tc.requests || n > tc.requests+conc-1 {
					t.Errorf("%d requests, want %d", n, tc.requests)
				}
				for _, q := range l.queries {
					if q.Page > tc.jobs/100+2 {
						t.Errorf("requested page %d of a listing of %d jobs", q.Page, tc.jobs)
					}
				}
			})
		}
	}
}

// TestWalkBoundPastTotal: pages that go on past the total, full of new jobs, stop the walk
// PagesPastTotal pages past the last page the total announces.
func TestWalkBoundPastTotal(t *testing.T) {
	l := &fakeLister{list: func(_ context.Context, q Query) (*Page, error) {
		return &Page{TotalCount: 1000, Jobs: jobsOf(ids(int64(q.Page)*100, 100))}, nil
	}}
	_, err := Walk(context.Background(), l, WalkOptions{}, func(context.Context, *Page) error { return nil })
	var pe *PagesError
	if !errors.As(err, &pe) || pe.Page != 10+PagesPastTotal+1 || !strings.Contains(err.Error(), "the pages do not end where the total says") {
		t.Fatalf("Walk = %v, want a PagesError at page %d", err, 10+PagesPastTotal+1)
	}
	if len(l.queries) != 10+PagesPastTotal {
		t.Errorf("%d requests, want %d", len(l.queries), 10+PagesPastTotal)
	}
}

// TestWalkPerPageRefused: a service that refuses per_page with a 400, or serves fewer jobs than
// asked while more exist, stops the walk with a *PerPageError, not churn.
func TestWalkPerPageRefused(t *testing.T) {
	l := pagesLister("documented", 1000, 50)
	res, err := Walk(context.Background(), l, WalkOptions{}, func(context.Context, *Page) error { return nil })
	var ppe *PerPageError
	if !errors.As(err, &ppe) || ppe.Served != 50 || ppe.PerPage != 100 || res.Delivered != 50 || len(l.queries) != 1 {
		t.Fatalf("Walk = %v, %+v; want a PerPageError after page 1 with its 50 jobs delivered", err, res)
	}
	if want := "page 1 held 50 jobs although per_page=100 was asked and job_total_count is 1000"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// A listing smaller than a page is not a cap.
	if _, err := Walk(context.Background(), pagesLister("documented", 50, 0), WalkOptions{}, func(context.Context, *Page) error { return nil }); err != nil {
		t.Errorf("a short listing: %v", err)
	}

	refused := &fakeLister{list: func(context.Context, Query) (*Page, error) {
		return &Page{}, &APIError{HTTPStatus: 400, Code: "ModelArts.0104", Message: `Invalid parameter per_page: "100" is not an integer from 1 to 50`}
	}}
	_, err = Walk(context.Background(), refused, WalkOptions{Verify: true}, func(context.Context, *Page) error { return nil })
	if !errors.As(err, &ppe) || !errors.Is(err, ErrBadInput) || !strings.HasPrefix(err.Error(), "newest-jobs baseline: the service refused per_page=100") {
		t.Errorf("Walk = %v, want a PerPageError from the baseline request", err)
	}
}
