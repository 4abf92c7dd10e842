package fetch

// The proof of a complete walk: the probe before page 1 (Baseline), the count of the jobs created
// during the walk, and Unseen, which says whether any job that existed when the walk started was
// missed.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

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
	first   map[int64]struct{} // the ids of page 1, to tell a page repeating it
	served  int64              // items as served over the walk, repeats included
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
	if err != nil {
		if perPageRefused(err) {
			err = &PerPageError{PerPage: opts.PerPage, Err: err}
		}
		return fmt.Errorf("newest-jobs baseline: %w", err)
	}
	if p == nil {
		return errors.New("newest-jobs baseline: lister returned no page and no error")
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
	b.Whole = p.Whole(opts.PerPage)
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
	if page == 1 {
		w.first = seen
	}
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
