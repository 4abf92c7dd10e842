package fetch

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// bigPages serves pages of per jobs, each with a description of descLen bytes, and counts the pages
// alive: returned by ListPage and not yet stored by the walk's fn.
type bigPages struct {
	total, per, descLen int
	desc                string

	mu          sync.Mutex
	alive, peak int
}

func (b *bigPages) ListPage(_ context.Context, q Query) (*Page, error) {
	time.Sleep(time.Millisecond)
	p := &Page{TotalCount: int64(b.total)}
	for i := (q.Page-1)*q.PerPage + 1; i <= min(q.Page*q.PerPage, b.total); i++ {
		p.Jobs = append(p.Jobs, Job{ID: int64(i), CreateTime: int64(i), Desc: b.desc, Raw: []byte(b.desc)})
	}
	b.mu.Lock()
	b.alive++
	b.peak = max(b.peak, b.alive)
	b.mu.Unlock()
	return p, nil
}

func (b *bigPages) stored(n int) {
	b.mu.Lock()
	b.alive -= n
	b.mu.Unlock()
}

// TestPrefetchBoundedInBytes: pages of 100 jobs with large descriptions are held within the byte
// budget (here: one page in fn and the one requested for the walk, nothing ahead), while pages of
// small jobs are still requested ahead up to the page window. Requests and writes take their time
// on synctest's clock, so how far the walk gets ahead does not depend on how busy the machine is.
func TestPrefetchBoundedInBytes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		descLen  int
		budget   int64
		maxAlive int
		minAlive int
	}{
		{name: "large pages stay within the budget", descLen: 8 << 10, budget: 1 << 20, maxAlive: 2, minAlive: 1},          // ~1.6 MiB a page
		{name: "three pages fit", descLen: 1 << 10, budget: 700 << 10, maxAlive: 4, minAlive: 3},                           // ~230 KiB a page: 3 held, or 2 + 1 in flight
		{name: "small pages use the whole window", descLen: 10, budget: DefaultMaxBufferBytes, maxAlive: 21, minAlive: 10}, // a batch of 10 in fn, a window of 10 ahead
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &bigPages{total: 3000, per: 100, desc: strings.Repeat("d", tc.descLen)}
				opts := WalkOptions{PerPage: 100, Concurrency: 8, MaxBatch: 10, MaxBufferBytes: tc.budget}
				res, err := WalkBatches(context.Background(), b, opts, func(_ context.Context, pages []*Page) error {
					time.Sleep(5 * time.Millisecond) // a database write
					b.stored(len(pages))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.Delivered != 3000 {
					t.Fatalf("delivered %d jobs, want 3000", res.Delivered)
				}
				if b.peak > tc.maxAlive || b.peak < tc.minAlive {
					t.Errorf("up to %d pages alive at once, want %d..%d", b.peak, tc.minAlive, tc.maxAlive)
				}
			})
		})
	}
}
