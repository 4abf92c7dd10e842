package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/textcap"
)

// Deletions on evidence.
//
// A job the last walk of a run did not list is only a candidate (modelarts.deletion_candidates): a walk
// can skip a job when a deletion shifts the pages under it, and no proof of a complete walk is beyond
// what the service does and does not document. A candidate is marked deleted only when the ModelArts
// service itself says it does not exist, by one of three kinds of evidence, tried in this order:
//
//  1. The detail call answers the recognised not-found (fetch.JobNotFound) with the same shape (HTTP
//     status and error code) as its answer, in the same run, for an id that cannot exist, and the
//     detail call returned a job this run listed. A gateway's 404 (APIG.0101: route not published), a
//     proxy's HTML page, an unknown code, a 5xx, a timeout: no evidence.
//  2. The list call with search_content set to the job's name (its first 64 characters) answers one
//     complete page without the job, after a name search in the same run found a job this run
//     listed. Searches may match substrings, descriptions, or nothing at all: only the absence of the
//     job id from a complete answer counts. A job renamed since it was last seen is not found under
//     its old name, so this evidence is used only for a job that a verified-complete walk did not
//     list, or that two walks missed.
//  3. The unfiltered listing, in one short page (fewer jobs than the page size, as many as
//     job_total_count, all decoded) just before the last walk, did not hold the job.
//
// Everything else leaves the candidate live and queued; it is checked again in the next run (least
// recently checked first, so none waits for ever behind one the service never settles), and the run
// is partial. Whatever the walks' proof of completeness says, a wrong assumption about the service
// costs completeness (a job shown live for longer), never a false deletion.

// Kinds of evidence, as logged and counted (Result.DeletedBy).
const (
	ByDetail  = "detail"
	BySearch  = "search"
	ByListing = "listing"
)

type trust int

const (
	untested trust = iota
	trusted
	untrusted
)

// confirmer settles the deletion candidates of one run within its budget.
type confirmer struct {
	s        *syncRun
	calls    int       // calls left in the budget
	deadline time.Time // no new call after this
	verified bool      // a walk of the run was verified complete
	listing  *fetch.Baseline

	detail      trust
	detailShape fetch.NotFoundShape
	detailWhy   string
	search      trust
	searchWhy   string

	gone    []int64
	by      map[string]int
	checks  []store.CandidateCheck
	checked int
}

// settleCandidates refreshes the queue of deletion candidates after the last walk, checks as many as
// the budget allows, and marks deleted those the service says do not exist, unless that would delete
// too large a share of the source. It returns ErrMassDelete when it refuses, and records the queue's
// length in the run's stats.
func (s *syncRun) settleCandidates(ctx context.Context) error {
	total, err := s.run.RefreshCandidates(ctx, s.opts.Now())
	if err != nil {
		return err
	}
	s.stats.DeletionsPending = total
	if total == 0 {
		return nil
	}
	c := &confirmer{s: s, calls: s.opts.DeleteCheckBudget, verified: s.verified, by: map[string]int{}}
	if s.opts.DeleteCheckTime > 0 {
		c.deadline = time.Now().Add(s.opts.DeleteCheckTime)
	}
	if b := s.lastBaseline; b != nil && b.Whole {
		c.listing = b
	}
	cands, err := s.run.CandidatesToCheck(ctx, max(s.opts.DeleteCheckBudget, 1))
	if err != nil {
		return err
	}
	// Checks take a request each, at the rate limit: say what is coming.
	s.log.Info("checking deletion candidates with the service", "candidates", total, "checking", len(cands),
		"budget_calls", s.opts.DeleteCheckBudget, "budget_time", s.opts.DeleteCheckTime.String())
	started, lastLog := time.Now(), time.Now()
	for i, cand := range cands {
		if !c.affordable() {
			break
		}
		if err := c.check(ctx, cand); err != nil {
			if ctx.Err() != nil {
				break // deadline or shutdown: record what was settled, then end
			}
			return err
		}
		if time.Since(lastLog) >= s.opts.ProgressLogEvery && i+1 < len(cands) {
			lastLog = time.Now()
			s.log.Info("deletion checks progress", "asked", i+1, "of", len(cands), "confirmed_gone", len(c.gone),
				"calls_left", c.calls, "elapsed", time.Since(started).Round(time.Second).String())
		}
	}
	s.stats.DeletionChecks += s.opts.DeleteCheckBudget - c.calls

	// The mass-deletion guard, on confirmed deletions: when only some candidates were checked, their
	// share of confirmed deletions is projected onto all of them.
	gone := int64(len(c.gone))
	projected := gone
	if c.checked > 0 && int64(c.checked) < total {
		projected = gone * total / int64(c.checked)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if gone > 0 {
		live, err := s.run.LiveCount(wctx)
		if err != nil {
			return err
		}
		if !s.opts.AllowMassDelete && projected > int64(s.opts.MaxDeleteMin) && float64(projected) > s.opts.MaxDeleteShare*float64(live) {
			return fmt.Errorf("%w: %d of %d live jobs (%.0f%%) would be marked deleted (the service confirmed %d of the %d candidates checked gone), "+
				"more than the %.0f%% allowed; nothing was marked deleted. If they really are gone, run once with indexer sync --allow-mass-delete",
				ErrMassDelete, projected, live, 100*float64(projected)/float64(live), gone, c.checked, 100*s.opts.MaxDeleteShare)
		}
		n, err := s.run.MarkDeleted(wctx, s.opts.Now(), c.gone)
		s.stats.Deleted += n
		if err != nil {
			return err
		}
		total -= n
	}
	if err := s.run.RecordChecks(wctx, s.opts.Now(), c.checks); err != nil {
		return err
	}
	for _, ch := range c.checks {
		if ch.Outcome == store.CheckAlive {
			total--
		}
	}
	s.stats.DeletionsPending = max(total, 0)
	s.deletedBy = c.by
	if len(c.gone) > 0 || c.checked > 0 {
		s.log.Info("deletion candidates checked", "candidates", s.stats.DeletionsPending+int64(len(c.gone)), "checked", c.checked,
			"deleted", s.stats.Deleted, "by_detail", c.by[ByDetail], "by_search", c.by[BySearch], "by_listing", c.by[ByListing],
			"pending", s.stats.DeletionsPending)
	}
	if c.detailWhy != "" {
		s.lastDetailWhy = c.detailWhy
	}
	if c.searchWhy != "" {
		s.lastSearchWhy = c.searchWhy
	}
	return ctx.Err()
}

// affordable says whether one more call fits the budget.
func (c *confirmer) affordable() bool {
	return c.calls > 0 && (c.deadline.IsZero() || time.Now().Before(c.deadline))
}

func (c *confirmer) spend() { c.calls-- }

// check asks the service about one candidate and records the outcome.
func (c *confirmer) check(ctx context.Context, cand store.Candidate) error {
	c.checked++
	why, err := c.byDetail(ctx, cand)
	if err != nil || why == "" {
		return err
	}
	swhy, err := c.bySearch(ctx, cand)
	if err != nil || swhy == "" {
		return err
	}
	if c.listing != nil && !c.listing.Listed(cand.JobID) {
		c.confirmGone(cand, ByListing)
		return nil
	}
	c.checks = append(c.checks, store.CandidateCheck{JobID: cand.JobID, Outcome: store.CheckUnknown, Answer: why + "; " + swhy})
	return nil
}

func (c *confirmer) confirmGone(cand store.Candidate, by string) {
	c.gone = append(c.gone, cand.JobID)
	c.by[by]++
	c.s.log.Info("deletion confirmed by the service", "job_id", cand.JobID, "job_name", truncate(cand.Name, 100), "evidence", by)
}

// alive upserts a candidate the service showed: a walk skipped it, it was not deleted.
func (c *confirmer) alive(ctx context.Context, j fetch.Job) error {
	c.s.log.Warn("deletion candidate still exists; kept and updated (a walk skipped it)", "job_id", j.ID)
	if err := c.s.upsert(ctx, []fetch.Job{j}); err != nil {
		return err
	}
	c.checks = append(c.checks, store.CandidateCheck{JobID: j.ID, Outcome: store.CheckAlive})
	return nil
}

// byDetail settles cand with the detail call when it is trusted. It returns "" when settled, else
// why not.
func (c *confirmer) byDetail(ctx context.Context, cand store.Candidate) (string, error) {
	if c.detail == untested {
		if err := c.calibrateDetail(ctx, cand.JobID); err != nil {
			return "", err
		}
	}
	if c.detail != trusted {
		return "detail call not trusted: " + c.detailWhy, nil
	}
	if !c.affordable() {
		return "budget spent", nil
	}
	c.spend()
	j, err := c.s.src.GetJob(ctx, cand.JobID)
	switch shape, notFound := fetch.JobNotFound(err); {
	case err == nil && j != nil && j.ID == cand.JobID:
		return "", c.alive(ctx, *j)
	case err == nil:
		return fmt.Sprintf("the detail call for job %d answered another job", cand.JobID), nil
	case notFound && shape == c.detailShape:
		c.confirmGone(cand, ByDetail)
		return "", nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	case notFound:
		return fmt.Sprintf("the detail call answered %s, not the %s it gives for an id that cannot exist", shape, c.detailShape), nil
	default:
		return "the detail call answered: " + textcap.Clean(err.Error(), 300), nil
	}
}

// calibrateDetail learns, once per run, whether the detail call gives evidence: its answer for an id
// that cannot exist must be a recognised not-found, and its answer for a job this run listed must be
// that job.
func (c *confirmer) calibrateDetail(ctx context.Context, candID int64) error {
	c.detail = untrusted
	if !c.affordable() {
		c.detailWhy = "budget spent"
		return nil
	}
	impossible := fetch.ImpossibleJobID(max(c.s.maxID, candID))
	c.spend()
	_, err := c.s.src.GetJob(ctx, impossible)
	shape, ok := fetch.JobNotFound(err)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil:
		c.detailWhy = fmt.Sprintf("the detail call returned a job for id %d, which cannot exist", impossible)
		return nil
	case !ok:
		c.detailWhy = "its answer for an id that cannot exist is not a recognised not-found: " + textcap.Clean(err.Error(), 300)
		c.s.log.Warn("the detail call gives no evidence of deletions in this run; using name searches", "reason", c.detailWhy)
		return nil
	}
	if len(c.s.recent) > 0 && c.affordable() {
		known := c.s.recent[len(c.s.recent)-1]
		c.spend()
		j, err := c.s.src.GetJob(ctx, known.ID)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || j == nil || j.ID != known.ID {
			c.detailWhy = fmt.Sprintf("the detail call did not return job %d, listed in this run: %v", known.ID, err)
			c.s.log.Warn("the detail call gives no evidence of deletions in this run; using name searches", "reason", c.detailWhy)
			return nil
		}
	}
	c.detail, c.detailShape = trusted, shape
	return nil
}

// bySearch settles cand with a name search when searches are trusted. It returns "" when settled,
// else why not.
func (c *confirmer) bySearch(ctx context.Context, cand store.Candidate) (string, error) {
	if cand.Name == "" {
		return "no name to search for", nil
	}
	if c.search == untested {
		if err := c.calibrateSearch(ctx); err != nil {
			return "", err
		}
	}
	if c.search != trusted {
		return "name search not trusted: " + c.searchWhy, nil
	}
	if !c.affordable() {
		return "budget spent", nil
	}
	c.spend()
	p, err := c.s.searchName(ctx, cand.Name)
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		return "name search failed: " + textcap.Clean(err.Error(), 300), nil
	}
	if i := slices.IndexFunc(p.Jobs, func(j fetch.Job) bool { return j.ID == cand.JobID }); i >= 0 {
		return "", c.alive(ctx, p.Jobs[i])
	}
	if !p.Whole(c.s.opts.PerPage) {
		return fmt.Sprintf("a search for its name matched %d jobs, more than one complete page", p.TotalCount), nil
	}
	if !c.verified && cand.WalksMissed < 2 {
		return "missing from a name search, but a job renamed since it was last seen would be too: waits until a verified walk or a second walk misses it", nil
	}
	c.confirmGone(cand, BySearch)
	return "", nil
}

// calibrateSearch learns, once per run, whether a name search finds a job this run listed.
func (c *confirmer) calibrateSearch(ctx context.Context) error {
	c.search = untrusted
	tried := 0
	for i := len(c.s.recent) - 1; i >= 0 && tried < 2; i-- {
		known := c.s.recent[i]
		if known.Name == "" {
			continue
		}
		if !c.affordable() {
			c.searchWhy = "budget spent"
			return nil
		}
		tried++
		c.spend()
		p, err := c.s.searchName(ctx, known.Name)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			c.searchWhy = "a name search failed: " + textcap.Clean(err.Error(), 300)
			return nil
		}
		if slices.ContainsFunc(p.Jobs, func(j fetch.Job) bool { return j.ID == known.ID }) {
			c.search = trusted
			return nil
		}
		c.searchWhy = fmt.Sprintf("a search for the name of job %d, listed in this run, did not find it", known.ID)
	}
	if tried == 0 {
		c.searchWhy = "no job listed in this run to test a name search with"
	}
	c.s.log.Warn("name searches give no evidence of deletions in this run", "reason", c.searchWhy)
	return nil
}

// searchName lists the first page of the jobs whose name matches name (fetch.NameSearch).
func (s *syncRun) searchName(ctx context.Context, name string) (*fetch.Page, error) {
	q := fetch.Query{Page: 1, PerPage: s.opts.PerPage, SortBy: fetch.SortCreateTime, Order: "asc", SearchContent: fetch.NameSearch(name)}
	return s.src.ListPage(ctx, q)
}
