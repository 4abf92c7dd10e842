package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
)

// Lister fetches one page of the list call; *Client implements it.
type Lister interface {
	ListPage(ctx context.Context, q Query) (*Page, error)
}

// WalkOptions shape a walk. Zero values take the defaults given per field.
type WalkOptions struct {
	PerPage       int    // default 100
	SortBy        string // default SortCreateTime
	Order         string // default "asc"
	Status        *int   // only jobs with this status
	SearchContent string
	WorkspaceID   string
	MaxPages      int // hard cap on pages requested, default 100000
}

// How a walk ended (WalkResult.EndedBy).
const (
	EndedShortPage    = "short_page"    // a page had fewer items than PerPage
	EndedEmptyPage    = "empty_page"    // a page had no items
	EndedTotalReached = "total_reached" // page*PerPage reached that page's job_total_count
	EndedPageCap      = "page_cap"      // MaxPages pages were read and the listing went on (an error)
)

// WalkResult reports what a walk did, also when it failed part way.
type WalkResult struct {
	Pages, Requests, Retries int
	FirstTotal, LastTotal    int64
	TotalsStable             bool   // every page reported the same job_total_count
	Delivered                int    // jobs passed to fn after collapsing duplicates
	Duplicates               int    // jobs dropped as already seen on the same or the previous page
	BadItems                 int    // items no page could decode (see Page.BadItems)
	EndedBy                  string // one of the Ended* constants; "" after another error
}

// Walk requests pages 1, 2, ... and calls fn with each page before
// requesting the next. Jobs whose id was already seen on the same page or
// on the previous one are removed first (items shift between pages when jobs
// are created or deleted during the walk); only two pages of ids are kept,
// so callers dedupe globally. The walk ends at a page shorter than PerPage,
// an empty page, a page that reaches its job_total_count, or after MaxPages
// pages (an error). Errors name the page; the result keeps the progress.
func Walk(ctx context.Context, l Lister, opts WalkOptions, fn func(ctx context.Context, p *Page) error) (WalkResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return WalkResult{}, err
	}
	w := walker{res: WalkResult{TotalsStable: true}}
	for page := 1; ; page++ {
		p, err := l.ListPage(ctx, opts.query(page))
		if p != nil {
			w.res.Requests += p.HTTPRequests
			w.res.Retries += p.RetriesNeeded
		}
		if err != nil {
			return w.res, fmt.Errorf("walk page %d: %w", page, err)
		}
		if p == nil {
			return w.res, fmt.Errorf("walk page %d: lister returned no page and no error", page)
		}
		items := len(p.Jobs) + len(p.BadItems)
		w.count(page, p)
		if err := fn(ctx, p); err != nil {
			return w.res, fmt.Errorf("walk page %d: %w", page, err)
		}
		if w.res.EndedBy = endedBy(page, items, opts.PerPage, p.TotalCount); w.res.EndedBy != "" {
			return w.res, nil
		}
		if page >= opts.MaxPages {
			w.res.EndedBy = EndedPageCap
			return w.res, fmt.Errorf("walk page %d: stopped at the cap of %d pages (MaxPages) with the listing still going", page, opts.MaxPages)
		}
	}
}

func (o WalkOptions) withDefaults() (WalkOptions, error) {
	if o.PerPage < 0 || o.MaxPages < 0 {
		return o, errors.New("walk: per page and max pages must not be negative")
	}
	o.PerPage = cmp.Or(o.PerPage, 100)
	o.SortBy = cmp.Or(o.SortBy, SortCreateTime)
	o.Order = cmp.Or(o.Order, "asc")
	o.MaxPages = cmp.Or(o.MaxPages, 100000)
	return o, nil
}

func (o WalkOptions) query(page int) Query {
	return Query{
		Page: page, PerPage: o.PerPage, SortBy: o.SortBy, Order: o.Order,
		Status: o.Status, SearchContent: o.SearchContent, WorkspaceID: o.WorkspaceID,
	}
}

// endedBy says whether the page that held items is the last one. The total
// only ends a walk when the page reports one: a missing total (0) with a
// full page keeps walking.
func endedBy(page, items, perPage int, total int64) string {
	switch {
	case items == 0:
		return EndedEmptyPage
	case items < perPage:
		return EndedShortPage
	case total > 0 && int64(page)*int64(perPage) >= total:
		return EndedTotalReached
	}
	return ""
}

// walker holds the counters of a walk and the ids of the previous page.
type walker struct {
	res  WalkResult
	prev map[int64]struct{}
}

// count records page p and removes from it the jobs already seen on it or
// on the previous page.
func (w *walker) count(page int, p *Page) {
	w.res.Pages++
	if page == 1 {
		w.res.FirstTotal = p.TotalCount
	} else if p.TotalCount != w.res.LastTotal {
		w.res.TotalsStable = false
	}
	w.res.LastTotal = p.TotalCount
	w.res.BadItems += len(p.BadItems)

	seen := make(map[int64]struct{}, len(p.Jobs))
	kept := make([]Job, 0, len(p.Jobs))
	for _, j := range p.Jobs {
		_, onPage := seen[j.ID]
		_, onPrev := w.prev[j.ID]
		seen[j.ID] = struct{}{}
		if onPage || onPrev {
			w.res.Duplicates++
			continue
		}
		kept = append(kept, j)
	}
	p.Jobs = kept
	w.prev = seen
	w.res.Delivered += len(kept)
}
