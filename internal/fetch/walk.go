package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
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
			items := len(p.Jobs) + len(p.BadItems)
			w.count(page, p)
			batch = append(batch, p)
			ended = true
			switch {
			case items == 0 && confirming:
				w.res.EndedBy = EndedTotalReached
			case items == 0:
				w.res.EndedBy = EndedEmptyPage
			case items < opts.PerPage:
				w.res.EndedBy = EndedShortPage
			default:
				// A full page: the listing may go on. When the page reaches its
				// total, the next page confirms the end (even past MaxPages).
				ended = false
				confirming = p.TotalCount > 0 && int64(page)*int64(opts.PerPage) >= p.TotalCount
				if page >= opts.MaxPages && !(confirming && page == opts.MaxPages) {
					w.res.EndedBy = EndedPageCap
					stop = fmt.Errorf("walk page %d: stopped at the cap of %d pages (MaxPages) with the listing still going", page, opts.MaxPages)
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

// DefaultMaxBufferBytes is the default WalkOptions.MaxBufferBytes: 64 MiB of decoded pages.
const DefaultMaxBufferBytes = 64 << 20

// prefetcher requests the pages of a walk, each in a goroutine of its own:
// the page the walk waits for, and with Concurrency above 1 the pages after
// it, at most Concurrency requests in flight, a window of pages ahead and
// MaxBufferBytes of pages held. A request that completes starts the next
// one, so the window stays full while the walk's fn runs.
type prefetcher struct {
	ctx     context.Context
	cancel  context.CancelFunc
	l       Lister
	opts    WalkOptions
	window  int // pages requested ahead of cursor, cursor included
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending map[int]*fetched // pages requested and not taken yet
	next    int              // the next page to request
	cursor  int              // the page the walk waits for
	last    int              // the last page worth requesting ahead
	flying  int              // requests in flight
	stopped bool

	held    int64 // bytes of the pages fetched and not released (pending or handed to fn)
	handed  int64 // bytes of the pages taken, until release
	largest int64 // the largest page seen: what a request in flight may bring
}

type fetched struct {
	done chan struct{} // closed when p and err are set
	p    *Page
	err  error
	size int64 // pageBytes(p)
}

// pageBytes estimates the memory a decoded page holds: each job's raw item and decoded strings.
func pageBytes(p *Page) int64 {
	if p == nil {
		return 0
	}
	var n int64
	for _, j := range p.Jobs {
		n += int64(len(j.Raw) + len(j.Name) + len(j.Desc) + len(j.ServiceURL) + len(j.TrainURL) + len(j.ResourceID) + 128)
	}
	for _, b := range p.BadItems {
		n += int64(len(b.Raw) + len(b.Reason) + 128)
	}
	return n
}

func newPrefetcher(ctx context.Context, l Lister, opts WalkOptions) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	window := 1
	if opts.Concurrency > 1 {
		window = max(opts.Concurrency, opts.MaxBatch)
	}
	return &prefetcher{ctx: ctx, cancel: cancel, l: l, opts: opts, window: window,
		pending: make(map[int]*fetched), next: 1, cursor: 1}
}

// advance says the walk now waits for page cursor and that the listing ends
// at page last, and requests what that allows.
func (f *prefetcher) advance(cursor, last int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cursor, f.last = cursor, last
	f.launchLocked()
}

// launchLocked requests page cursor if it is not yet, and the pages after it
// that the window, the end of the listing and Concurrency allow. Callers
// hold f.mu.
func (f *prefetcher) launchLocked() {
	for !f.stopped && f.next < f.cursor+f.window && (f.next == f.cursor || f.next <= f.last && f.flying < f.opts.Concurrency && f.roomLocked()) {
		page, r := f.next, &fetched{done: make(chan struct{})}
		f.pending[page] = r
		f.next++
		f.flying++
		f.wg.Go(func() {
			p, err := f.l.ListPage(f.ctx, f.opts.query(page))
			size := pageBytes(p)
			f.mu.Lock()
			defer f.mu.Unlock()
			r.p, r.err, r.size = p, err, size
			close(r.done)
			f.held += size
			f.largest = max(f.largest, size)
			f.flying--
			f.launchLocked()
		})
	}
}

// roomLocked says whether one more page fits in MaxBufferBytes, with the pages held and each request
// in flight (this one included) counted as large as the largest page seen. Until a page has arrived
// its size is unknown: nothing is requested ahead. Callers hold f.mu.
func (f *prefetcher) roomLocked() bool {
	return f.largest > 0 && f.held+int64(f.flying+1)*f.largest <= f.opts.MaxBufferBytes
}

// release says fn returned: the pages taken since the last release are no longer held.
func (f *prefetcher) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held -= f.handed
	f.handed = 0
	f.launchLocked()
}

// ready says whether page was fetched and can be taken without waiting.
func (f *prefetcher) ready(page int) bool {
	f.mu.Lock()
	r := f.pending[page]
	f.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// take waits for page, which advance requested.
func (f *prefetcher) take(page int) (*Page, error) {
	f.mu.Lock()
	r := f.pending[page]
	delete(f.pending, page)
	f.mu.Unlock()
	<-r.done
	f.mu.Lock()
	f.handed += r.size
	f.mu.Unlock()
	return r.p, r.err
}

// stop cancels the requests still in flight, waits for them and returns the
// requests and retries of the pages never taken: pages fetched past the end
// of the walk.
func (f *prefetcher) stop() (requests, retries int) {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
	for _, r := range f.pending {
		if r.p != nil {
			requests += r.p.HTTPRequests
			retries += r.p.RetriesNeeded
		}
	}
	return requests, retries
}

func (o WalkOptions) withDefaults() (WalkOptions, error) {
	if o.PerPage < 0 || o.MaxPages < 0 || o.Concurrency < 0 || o.MaxBatch < 0 || o.MaxBufferBytes < 0 {
		return o, errors.New("walk: per page, max pages, concurrency, max batch and max buffer bytes must not be negative")
	}
	o.PerPage = cmp.Or(o.PerPage, 100)
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

// Key places a job in the order of a create_time walk: create_time, then
// job_id (the tie-break the simulator uses and that keeps the order total).
type Key struct{ CreateTime, ID int64 }

// KeyOf returns the key of j.
func KeyOf(j Job) Key { return Key{CreateTime: j.CreateTime, ID: j.ID} }

// Compare returns -1, 0 or +1 as k sorts before, with or after o.
func (k Key) Compare(o Key) int {
	return cmp.Or(cmp.Compare(k.CreateTime, o.CreateTime), cmp.Compare(k.ID, o.ID))
}

// Baseline is the listing as the probe of a Verify walk saw it, in one answer.
type Baseline struct {
	Total int64 // job_total_count when the walk started
	Last  Key   // the job last in the walk's order then; meaningless when Total is 0
	// Ambiguous: the probe could not tell which job is last (its page was
	// full of jobs of one create_time, or held items it could not decode, or
	// none while counting some). Unseen then tells nothing.
	Ambiguous bool
	// Oldest is the oldest create_time on the probe page.
	Oldest int64
	// Whole: the probe page held the whole listing (job_total_count jobs,
	// every item decoded), in one answer.
	Whole bool
	ids   map[int64]struct{} // the jobs of the probe page
}

// created says whether the job with key k was created after the probe.
//
// A job that sorts after Baseline.Last was. So was a job that sorts among
// the probe's jobs but was not on the probe page: create_time is a server
// timestamp, and jobs created within the same second on different API
// servers are not strictly ordered, so a job created during the walk may
// carry a create_time slightly older than the newest job of the probe. The
// probe page held every job whose create_time is strictly greater than the
// oldest create_time on it (those sort before it in the probe's descending
// order), so such a job missing from the page did not exist yet. A job
// created during the walk with a create_time older than every job of the
// probe page still cannot be told from an old one: it is counted as
// existing, which can make a walk that skipped a job look complete; that
// costs nothing but a deletion candidate, since a deletion needs the
// service's own word (syncer's evidence.go).
func (b Baseline) created(k Key) bool {
	if b.Total == 0 || k.Compare(b.Last) > 0 {
		return true
	}
	if b.ids == nil {
		return false
	}
	_, listed := b.ids[k.ID]
	return !listed && (b.Whole || k.CreateTime > b.Oldest)
}

// Listed says whether the probe page held the job with this id.
func (b Baseline) Listed(id int64) bool {
	_, ok := b.ids[id]
	return ok
}

// Unseen is the number of the Baseline.Total jobs that existed when a Verify
// walk started and that it did not see, given seen, the number of distinct
// jobs the caller received over the whole walk (the walker removes repeats
// only within two pages: callers count distinct ids themselves, e.g. in a
// database). seen must include the malformed items that have a job_id
// (BadItem.JobID), as Created counts those created during the walk; a
// malformed item without one is not seen, so a walk that met one is never
// complete.
//
// Why this finds every skip: the listing is sorted by create_time then
// job_id and a new job gets a create_time after every existing one, so a job
// created during the walk lands after Baseline.Last and never moves a job
// that existed before. Only a deletion moves jobs: every job after it shifts
// one place left, and the job that crosses the boundary of the page being
// read is skipped. Jobs sorting at or before Baseline.Last are exactly the
// Baseline.Total jobs of the start, so seen - Created of them were seen and
// Unseen = Total - (seen - Created). Zero means no job that existed when the
// walk started was missed (a job deleted before the walk reached it also
// counts as unseen: it cannot be told from a skip, so such a walk is not
// trusted either). Comparing job_total_count before and after cannot do
// this: one deletion and one creation leave it unchanged while a job was
// skipped. A negative value means the order moved (a job appeared before
// Baseline.Last): nothing can be concluded either.
//
// None of this depends on the order in which the pages were read, or on
// when: with WalkOptions.Concurrency pages are fetched out of order and at
// overlapping times, and the count still says whether each job listed at
// the probe was delivered at some point of the walk.
func (r WalkResult) Unseen(seen int64) int64 {
	return r.Baseline.Total - (seen - int64(r.Created))
}

// badKey places a malformed item in the create_time order when it carries
// a usable job_id and create_time.
func badKey(it BadItem) (Key, bool) {
	if it.JobID == nil || it.CreateTime == nil {
		return Key{}, false
	}
	return Key{CreateTime: *it.CreateTime, ID: *it.JobID}, true
}

// walker holds the counters of a walk and the ids of the previous page.
type walker struct {
	res     WalkResult
	prev    map[int64]struct{}
	verify  bool
	created map[int64]struct{} // jobs after Baseline.Last: bounded by the jobs created during the walk
}

// probe asks for the newest jobs to set the baseline of a Verify walk. Ties
// in create_time are ordered by the API in a way no page documents, so the
// last job is the greatest key of the whole probe page, which is certain
// unless the page is full of jobs of one create_time.
func (w *walker) probe(ctx context.Context, l Lister, opts WalkOptions) error {
	q := opts.query(1)
	q.Order = "desc"
	p, err := l.ListPage(ctx, q)
	if p != nil {
		w.res.Requests += p.HTTPRequests
		w.res.Retries += p.RetriesNeeded
	}
	if err != nil {
		return fmt.Errorf("walk probe: %w", err)
	}
	if p == nil {
		return errors.New("walk probe: lister returned no page and no error")
	}
	b := Baseline{Total: p.TotalCount}
	keys := make([]Key, 0, len(p.Jobs)+len(p.BadItems))
	for _, j := range p.Jobs {
		keys = append(keys, KeyOf(j))
	}
	for _, it := range p.BadItems {
		k, ok := badKey(it)
		if !ok {
			b.Ambiguous = true // it could be the newest job
			continue
		}
		keys = append(keys, k)
	}
	b.ids = make(map[int64]struct{}, len(keys))
	for i, k := range keys {
		if k.Compare(b.Last) > 0 {
			b.Last = k
		}
		if i == 0 || k.CreateTime < b.Oldest {
			b.Oldest = k.CreateTime
		}
		b.ids[k.ID] = struct{}{}
	}
	b.Whole = len(p.BadItems) == 0 && int64(len(p.Jobs)) == b.Total && len(p.Jobs) < opts.PerPage
	oneTime := len(keys) > 0 && !slices.ContainsFunc(keys, func(k Key) bool { return k.CreateTime != b.Last.CreateTime })
	switch {
	case b.Total > 0 && len(keys) == 0:
		b.Ambiguous = true
	case oneTime && len(keys) >= opts.PerPage && int64(len(keys)) < b.Total:
		b.Ambiguous = true
	}
	w.res.Baseline = b
	w.created = make(map[int64]struct{})
	return nil
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
		if w.verify && w.res.Baseline.created(KeyOf(j)) {
			if _, ok := w.created[j.ID]; !ok {
				w.created[j.ID] = struct{}{}
				w.res.Created++
			}
		}
	}
	p.Jobs = kept
	w.prev = seen
	if w.verify {
		// A malformed item with a job_id may count as seen for the caller
		// (it is not a deletion candidate), so it must count as created when
		// it was: when it cannot be placed it is assumed created, which can
		// only make the walk look less complete, never more.
		for _, it := range p.BadItems {
			if it.JobID == nil {
				continue
			}
			if k, ok := badKey(it); ok && !w.res.Baseline.created(k) {
				continue
			}
			if _, ok := w.created[*it.JobID]; !ok {
				w.created[*it.JobID] = struct{}{}
				w.res.Created++
			}
		}
	}
	w.res.Delivered += len(kept)
}
