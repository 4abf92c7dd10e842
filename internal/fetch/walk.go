package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
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
	// are discarded (their requests are counted all the same, by the Meter of the walk's context).
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
	EndedRepeatedPage = "repeated_page" // a page past the total repeated jobs the walk held (a gateway that clamps page): as if empty
	EndedRefusedPage  = "refused_page"  // a page past the total was answered 400 or 404: as if empty
)

// PagesPastTotal bounds how far a walk goes past the listing's end as job_total_count announces it: it
// requests at most ceil(total/PerPage) + PagesPastTotal pages, total being the latest page's. A
// service that behaves as documented needs one (the empty page confirming that a full last page was
// the last); the two others let a total that lags behind the pages by up to two pages of jobs (a
// count cached for a moment while jobs are created) still be walked to its end. A page that holds
// jobs while it is past its own answer's total contradicts that answer, so pages further on are not
// the listing the total describes: the walk stops with a *PagesError rather than spend the quota on
// pages no total vouches for, up to MaxPages.
const PagesPastTotal = 3

// PagesError says the pages of the listing cannot be walked as the documentation describes them
// (page 1 first, each page the next PerPage jobs, a page past the last one empty): the page
// parameter is ignored, pages count from 0, or the pages do not end where job_total_count says.
// Another walk would read the same pages: a caller does not walk again. The walk's result keeps
// what was read before.
type PagesError struct {
	Page   int    // the page that showed it
	Reason string // what the pages did, and what it suggests
}

func (e *PagesError) Error() string {
	return "pages cannot be walked as documented: " + e.Reason
}

// PerPageError says the service serves fewer jobs a page than the walk asked for: it refused per_page
// (Err, a 400 naming per_page), or page 1 held Served jobs of PerPage while job_total_count says more
// exist. Lowering the page size is the fix.
type PerPageError struct {
	PerPage int
	Served  int   // jobs page 1 held (when Err is nil)
	Total   int64 // its job_total_count
	Err     error // the service's answer refusing per_page, or nil
}

func (e *PerPageError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("the service refused per_page=%d: %v", e.PerPage, e.Err)
	}
	return fmt.Sprintf("page 1 held %d jobs although per_page=%d was asked and job_total_count is %d: the service serves at most %d jobs a page",
		e.Served, e.PerPage, e.Total, e.Served)
}

func (e *PerPageError) Unwrap() error { return e.Err }

// perPageRefused says whether err is the service refusing the per_page parameter: a 400 whose
// message names it.
func perPageRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == 400 && strings.Contains(strings.ToLower(ae.Message), "per_page")
}

// refusedPastTotal says whether err answers a page past the listing's end with 400 or 404, as some
// gateways and services do instead of an empty page.
func refusedPastTotal(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.HTTPStatus == 400 || ae.HTTPStatus == 404) && !perPageRefused(err)
}

// PageCapError is the error of a walk that read MaxPages pages with the listing still going: a
// caller that caps a listing on purpose tells it from a failure with errors.As.
type PageCapError struct{ MaxPages int }

func (e *PageCapError) Error() string {
	return fmt.Sprintf("stopped at the cap of %d pages (MaxPages) with the listing still going", e.MaxPages)
}

// WalkResult reports what a walk did, also when it failed part way.
type WalkResult struct {
	Pages                 int // pages handed over (requests are counted by a Meter: see WithMeter)
	FirstTotal, LastTotal int64
	TotalsStable          bool   // every page reported the same job_total_count
	Delivered             int    // jobs passed to fn after collapsing duplicates
	Duplicates            int    // jobs dropped as already seen on the same or the previous page
	BadItems              int    // items no page could decode (see Page.BadItems)
	EndedBy               string // one of the Ended* constants; "" after another error

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
// would otherwise end the walk early. Past the total, a page that repeats the
// page before or page 1 (a gateway clamping page), or a 400 or 404 for it, ends
// the walk as an empty page would; and no page beyond PagesPastTotal pages past
// the total is requested. Pages that cannot be walked as documented (page
// ignored, pages counted from 0) stop it with a *PagesError, a page size the
// service does not serve with a *PerPageError. Errors name the page; the result
// keeps the progress.
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
	defer pf.stop()
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
			if last := pagesIn(total, opts.PerPage); total > 0 && page > last+PagesPastTotal {
				stop = fmt.Errorf("walk page %d: %w", page, &PagesError{Page: page, Reason: fmt.Sprintf(
					"page %d would be the %d%s page past the %d that job_total_count %d announces, and the pages before it still held jobs: "+
						"the pages do not end where the total says", page, page-last, ordinal(page-last), last, total)})
				break
			}
			// Pages requested ahead before page 2 shows that page is ignored are discarded: a walk of
			// such a service costs at most one window of requests, once (no other walk follows).
			pf.advance(page, min(lastPage(total, opts.PerPage), opts.MaxPages+1))
			p, err := pf.take(page)
			if err == nil && p == nil {
				err = errors.New("lister returned no page and no error")
			}
			// Past the end, or at the last page the total announced when jobs deleted since then have
			// emptied it (the listing shifts left under churn): the service's way to say there is
			// nothing more. A walk that ends short of the total is not verified (Unseen), so this
			// costs completeness at most, never a deletion.
			if err != nil && total > 0 && page > 1 && page >= pagesIn(total, opts.PerPage) && refusedPastTotal(err) {
				w.res.EndedBy, ended = EndedRefusedPage, true
				break
			}
			if err != nil {
				if perPageRefused(err) {
					err = &PerPageError{PerPage: opts.PerPage, Err: err}
				}
				stop = fmt.Errorf("walk page %d: %w", page, err)
				break
			}
			if e := w.repeated(page, p, opts.PerPage); e != "" {
				if p.TotalCount > 0 && page > pagesIn(p.TotalCount, opts.PerPage) {
					// A page past the end that repeats what the walk holds (a gateway clamping page to the
					// last one): the listing is over, as if the page were empty.
					w.res.Pages++
					w.res.Duplicates += len(p.Jobs)
					w.res.EndedBy, ended = EndedRepeatedPage, true
					break
				}
				stop = fmt.Errorf("walk page %d: %w", page, &PagesError{Page: page, Reason: fmt.Sprintf(
					"page %d answered the same %d jobs as %s although job_total_count %d announces %d pages: the service, or a gateway in front of it, does not honour the page parameter",
					page, len(p.Jobs), e, p.TotalCount, pagesIn(p.TotalCount, opts.PerPage))})
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
			w.served += int64(items)
			w.count(page, p)
			batch = append(batch, p)
			e := endOfPage(page, items, opts.PerPage, opts.MaxPages, p.TotalCount, confirming)
			w.res.EndedBy, confirming = cmp.Or(e.endedBy, w.res.EndedBy), e.confirming
			ended = e.endedBy != "" && !e.overCap
			if e.overCap {
				stop = fmt.Errorf("walk page %d: %w", page, &PageCapError{MaxPages: opts.MaxPages})
			}
			if ended {
				if err := w.shortfall(page, items, opts.PerPage, p.TotalCount); err != nil {
					stop, ended, w.res.EndedBy = fmt.Errorf("walk page %d: %w", page, err), false, ""
				}
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

// pagesIn is the number of pages that hold the total jobs of a listing, perPage a page.
func pagesIn(total int64, perPage int) int {
	if total <= 0 {
		return 0
	}
	return int(min((total+int64(perPage)-1)/int64(perPage), math.MaxInt32))
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}

// repeated says whether page p (page 2 or later, full, every item decoded) lists exactly the jobs of
// the page before it or of page 1, and which ("page 1", "page 4"), or "". Under the documented pages
// that takes the listing shifting by a whole page between two requests; it is what a service that
// ignores page answers, or a gateway that clamps it to the last page.
func (w *walker) repeated(page int, p *Page, perPage int) string {
	if page < 2 || len(p.Jobs) != perPage || len(p.BadItems) > 0 {
		return ""
	}
	same := func(ids map[int64]struct{}) bool {
		if len(ids) != len(p.Jobs) {
			return false
		}
		for _, j := range p.Jobs {
			if _, ok := ids[j.ID]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case same(w.prev):
		return fmt.Sprintf("page %d", page-1)
	case same(w.first):
		return "page 1"
	}
	return ""
}

// shortfall checks the page that ended a walk (page, holding items) against its own
// job_total_count: a page 1 that holds a fraction of what the total says exists (the service caps
// per_page: a *PerPageError), or a walk that ends exactly one page of jobs short of its total (what
// pages counted from 0 look like: page=1 answers the second page; a *PagesError). Anything else
// short of the total (jobs deleted during the walk, a total that lies high) is left to the proof.
func (w *walker) shortfall(page, items, perPage int, total int64) error {
	if total > 0 && w.served < total && w.served+min(total, int64(perPage)) == total {
		also := ""
		if page == 1 && items > 0 {
			also = fmt.Sprintf(" (or per_page is capped at %d)", items)
		}
		return &PagesError{Page: page, Reason: fmt.Sprintf(
			"the listing ended at page %d after %d jobs while job_total_count says %d: exactly one page short, as if page=1 answered the second page (pages counted from 0)%s",
			page, w.served, total, also)}
	}
	if page == 1 && items > 0 && items < perPage && total > int64(perPage) && total >= 2*int64(items) {
		return &PerPageError{PerPage: perPage, Served: items, Total: total}
	}
	return nil
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
