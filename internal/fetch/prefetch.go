package fetch

// The prefetcher: how a walk requests pages ahead of the one it waits for (WalkOptions.Concurrency),
// within a window of pages and a budget of bytes (WalkOptions.MaxBufferBytes).

import (
	"context"
	"sync"
)

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
	for !f.stopped {
		inWindow := f.next < f.cursor+f.window
		awaited := f.next == f.cursor // the page the walk waits for is always requested
		// A page ahead: within the listing as last reported, the requests in flight and the bytes held.
		ahead := f.next <= f.last && f.flying < f.opts.Concurrency && f.roomLocked()
		if !inWindow || !(awaited || ahead) {
			return
		}
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

// stop cancels the requests still in flight and waits for them. The pages never taken (fetched past
// the end of the walk) are dropped; their requests were counted when they were sent.
func (f *prefetcher) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}
