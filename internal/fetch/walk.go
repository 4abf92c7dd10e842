package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
)

// Lister fetches one page of the list call; *Client implements it.
type Lister interface {
	ListPage(ctx context.Context, q Query) (*Page, error)
}

// WalkOptions shape a walk. Zero values take the defaults given per field.
type WalkOptions struct {
	PerPage       int    // default DefaultPerPage
	SortBy        string // default SortCreateTime
	Order         string // default "asc"
	Status        *int   // only jobs with this status
	SearchContent string
	WorkspaceID   string
	MaxPages      int // hard cap on pages requested, default 100000

	// Concurrency is how many requests may be in flight at once (default
	// 1: one page after the other, nothing requested ahead). Above 1, the
	// next pages are requested while fn handles earlier ones, up to
	// max(Concurrency, MaxBatch) pages ahead of the one fn waits for, but
	// never past the end the latest job_total_count announces (the last page
	// with jobs, or the empty page that confirms a full last one), so a walk
	// of a listing that does not change makes the requests a sequential walk
	// makes. Pages still reach fn in page order, so fn, the stop conditions
	// and Verify see what a sequential walk would; pages fetched past the end
	// are discarded (their requests count in WalkResult.Requests).
	Concurrency int

	// MaxBatch is how many consecutive pages WalkBatches may hand to fn at
	// once (default 1): those already fetched when fn is ready for more, so
	// a slow fn (a database write) takes larger batches and never waits for
	// a batch to fill. Walk always hands over one page.
	MaxBatch int

	// MaxBufferBytes bounds the memory of the pages requested ahead (default DefaultMaxBufferBytes):
	// pages fetched and not yet handed over, those handed to fn until it returns, and the requests in
	// flight, each counted as large as the largest page seen. The page the walk waits for is always
	// requested, so pages larger than the budget make the walk sequential, never stuck.
	MaxBufferBytes int64

	// Verify makes the walk checkable afterwards (see WalkResult.Unseen).
	// Before page 1 it asks for the newest jobs (one request, same sort key,
	// order desc, PerPage items) to learn the Baseline: how many jobs exist
	// and which is last in the walk's order. During the walk it counts the
	// distinct jobs that sort after that last one: jobs created during the
	// walk. It needs the create_time ascending order (the default) and no
	// Status or SearchContent filter: a status change would then move a job
	// into the middle of the listing.
	Verify bool
}

// How a walk ended (WalkResult.EndedBy).
const (
	EndedShortPage    = "short_page"    // a page had fewer items than PerPage
	EndedEmptyPage    = "empty_page"    // a page had no items
	EndedTotalReached = "total_reached" // a full page reached its job_total_count and the next page, requested to confirm, was empty
	EndedPageCap      = "page_cap"      // MaxPages pages were read and the listing went on (an error)
)

// PageCapError is the error of a walk that read MaxPages pages with the listing still going: a
// caller that caps a listing on purpose tells it from a failure with errors.As.
type PageCapError struct{ MaxPages int }

func (e *PageCapError) Error() string {
	return fmt.Sprintf("stopped at the cap of %d pages (MaxPages) with the listing still going", e.MaxPages)
}

// WalkResult reports what a walk did, also when it failed part way.
type WalkResult struct {
	Pages, Requests, Retries int // Requests and Retries include the probe of a Verify walk
	FirstTotal, LastTotal    int64
	TotalsStable             bool   // every page reported the same job_total_count
	Delivered                int    // jobs passed to fn after collapsing duplicates
	Duplicates               int    // jobs dropped as already seen on the same or the previous page
	BadItems                 int    // items no page could decode (see Page.BadItems)
	EndedBy                  string // one of the Ended* constants; "" after another error

	// Verify walks only.
	Baseline Baseline // the listing just before page 1
	Created  int      // distinct jobs (and malformed items with a job_id) after Baseline.Last: created during the walk
}

// Walk requests pages 1, 2, ... and calls fn with each page, in page order;
// with Concurrency above 1 the next pages are requested while fn runs (see
// WalkOptions.Concurrency). Jobs whose id was already seen on the same page
// or on the previous one are removed first (items shift between pages when
// jobs are created or deleted during the walk); only two pages of ids are
// kept, so callers dedupe globally. The walk ends at a page shorter than
// PerPage or an empty one, or after MaxPages pages (an error). A full page
// that reaches its job_total_count does not end it: one more page is
// requested to confirm the listing is over, since a total that lies low
// would otherwise end the walk early. Errors name the page; the result keeps
// the progress.
func Walk(ctx context.Context, l Lister, opts WalkOptions, fn func(ctx context.Context, p *Page) error) (WalkResult, error) {
	opts.MaxBatch = 1
	return WalkBatches(ctx, l, opts, func(ctx context.Context, pages []*Page) error { return fn(ctx, pages[0]) })
}

// WalkBatches is Walk handing fn runs of consecutive pages, in page order:
// each time fn is ready, the pages already fetched after the last one it got,
// at most MaxBatch and at least the next one (waited for). The stop
// conditions apply page by page: pages after the last one are never handed
// over. When a page fails, the pages before it are handed over first, so a
// caller that stores every batch keeps everything read before the failure.
func WalkBatches(ctx context.Context, l Lister, opts WalkOptions, fn func(ctx context.Context, pages []*Page) error) (WalkResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return WalkResult{}, err
	}
	w := walker{res: WalkResult{TotalsStable: true}, verify: opts.Verify}
	if opts.Verify {
		if err := w.probe(ctx, l, opts); err != nil {
			return w.res, err
		}
	}
	err = w.walk(ctx, l, opts, fn)
	return w.res, err
}

func (w *walker) walk(ctx context.Context, l Lister, opts WalkOptions, fn func(ctx context.Context, pages []*Page) error) error {
	pf := newPrefetcher(ctx, l, opts)
	defer func() {
		requests, retries := pf.stop()
		w.res.Requests += requests
		w.res.Retries += retries
	}()
	total := w.res.Baseline.Total // the listing's length as last reported; 0: unknown
	confirming := false           // the last page was full and reached its total
	batch := make([]*Page, 0, opts.MaxBatch)
	for page := 1; ; {
		// Collect the next page, then those already fetched after it.
		batch = batch[:0]
		first := page
		var stop error // ends the walk once the batch is handed over
		ended := false
		for {
			pf.advance(page, min(lastPage(total, opts.PerPage), opts.MaxPages+1))
			p, err := pf.take(page)
			if p != nil {
				w.res.Requests += p.HTTPRequests
				w.res.Retries += p.RetriesNeeded
			}
			if err == nil && p == nil {
				err = errors.New("lister returned no page and no error")
			}
			if err != nil {
				stop = fmt.Errorf("walk page %d: %w", page, err)
				break
			}
			total = p.TotalCount
			if b, ok := l.(budgeter); ok && page == 1 {
				if err := b.fitsDeadline(ctx, total, lastPage(total, opts.PerPage)-1); err != nil {
					stop = fmt.Errorf("walk page 1: %w", err)
					break
				}
			}
			items := len(p.Jobs) + len(p.BadItems) // as served: count drops the repeats
			w.count(page, p)
			batch = append(batch, p)
			e := endOfPage(page, items, opts.PerPage, opts.MaxPages, p.TotalCount, confirming)
			w.res.EndedBy, confirming = cmp.Or(e.endedBy, w.res.EndedBy), e.confirming
			ended = e.endedBy != "" && !e.overCap
			if e.overCap {
				stop = fmt.Errorf("walk page %d: %w", page, &PageCapError{MaxPages: opts.MaxPages})
			}
			page++
			if ended || stop != nil || len(batch) == opts.MaxBatch || !pf.ready(page) {
				break
			}
		}
		if len(batch) > 0 {
			err := fn(ctx, batch)
			clear(batch) // the pages are fn's now: keep none alive while the next one arrives
			pf.release()
			if err != nil {
				if len(batch) == 1 {
					return fmt.Errorf("walk page %d: %w", first, err)
				}
				return fmt.Errorf("walk pages %d-%d: %w", first, first+len(batch)-1, err)
			}
		}
		if stop != nil || ended {
			return stop
		}
	}
}

// pageEnd is what one page says about the end of a walk.
type pageEnd struct {
	endedBy    string // one of the Ended* constants; "": the listing may go on
	confirming bool   // a full page reached its total: the next page only confirms the end
	overCap    bool   // MaxPages pages were read with the listing still going: an error
}

// endOfPage is the stop rule of a walk: page (1-based) held items items (decoded or not) with
// job_total_count total; confirming says the page before was full and reached its total. A page
// shorter than perPage ends the walk (an empty one after a confirming page: the total was reached).
// A full page does not, even when it reaches its total: a total that lies low would otherwise end
// the walk early, so one more page is requested to confirm the end, even past maxPages.
func endOfPage(page, items, perPage, maxPages int, total int64, confirming bool) pageEnd {
	switch {
	case items == 0 && confirming:
		return pageEnd{endedBy: EndedTotalReached}
	case items == 0:
		return pageEnd{endedBy: EndedEmptyPage}
	case items < perPage:
		return pageEnd{endedBy: EndedShortPage}
	}
	next := total > 0 && int64(page)*int64(perPage) >= total
	if page >= maxPages && !(next && page == maxPages) {
		return pageEnd{endedBy: EndedPageCap, confirming: next, overCap: true}
	}
	return pageEnd{confirming: next}
}

// lastPage is the last page worth requesting ahead when the listing holds
// total jobs: the last page with jobs, or the empty page after a full one
// that confirms the end. 0 when the total is unknown: nothing is requested
// ahead.
func lastPage(total int64, perPage int) int {
	if total <= 0 {
		return 0
	}
	return int(min(total/int64(perPage)+1, math.MaxInt32))
}

func (o WalkOptions) withDefaults() (WalkOptions, error) {
	if o.PerPage < 0 || o.MaxPages < 0 || o.Concurrency < 0 || o.MaxBatch < 0 || o.MaxBufferBytes < 0 {
		return o, errors.New("walk: per page, max pages, concurrency, max batch and max buffer bytes must not be negative")
	}
	o.PerPage = cmp.Or(o.PerPage, DefaultPerPage)
	o.SortBy = cmp.Or(o.SortBy, SortCreateTime)
	o.Order = cmp.Or(o.Order, "asc")
	o.MaxPages = cmp.Or(o.MaxPages, 100000)
	o.Concurrency = max(o.Concurrency, 1)
	o.MaxBatch = max(o.MaxBatch, 1)
	o.MaxBufferBytes = cmp.Or(o.MaxBufferBytes, DefaultMaxBufferBytes)
	if o.Verify && (o.SortBy != SortCreateTime || o.Order != "asc" || o.Status != nil || o.SearchContent != "") {
		return o, errors.New("walk: Verify needs the create_time ascending order and no status or search filter")
	}
	return o, nil
}

func (o WalkOptions) query(page int) Query {
	return Query{
		Page: page, PerPage: o.PerPage, SortBy: o.SortBy, Order: o.Order,
		Status: o.Status, SearchContent: o.SearchContent, WorkspaceID: o.WorkspaceID,
	}
}
