package syncer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// outcome is what asking one kind of evidence about a candidate came to: settled (the candidate was
// confirmed gone, or shown alive and kept), or not, with why not.
type outcome struct {
	settled bool
	why     string // when not settled: why this evidence could not settle the candidate
}

var settled = outcome{settled: true}

func unsettled(format string, a ...any) outcome { return outcome{why: fmt.Sprintf(format, a...)} }

// evidence is one kind of the service's evidence about deletions that costs calls (the detail call,
// the name search). The confirmer gives every kind the same skeleton (evidenceSource.ask): whether
// it applies to the candidate, calibration once per run, trust, and the call budget; a kind says only
// how it calibrates and how it checks one candidate. Adding a kind is a type with these methods and
// a line in newConfirmer.
type evidence interface {
	// kind is the kind's name in Result.DeletedBy and the logs (ByDetail, BySearch).
	kind() string
	// label names the kind in messages ("detail call", "name search").
	label() string
	// applies says why the kind cannot settle cand at all ("" when it can), before any call.
	applies(cand store.Candidate) string
	// calibrate learns, with calls of its own (each spent first), whether the kind gives evidence in
	// this run: "" when it does, else why not.
	calibrate(ctx context.Context, c *confirmer, cand store.Candidate) (string, error)
	// check settles cand with one call (spent by the skeleton), confirming it gone or keeping it alive
	// through c, or says why not.
	check(ctx context.Context, c *confirmer, cand store.Candidate) (outcome, error)
}

// evidenceSource is one kind of evidence and what the run learnt of it.
type evidenceSource struct {
	ev    evidence
	trust trust
	why   string // when untrusted: why
}

// ask settles cand with the kind of evidence when it applies, is trusted and the budget allows.
func (e *evidenceSource) ask(ctx context.Context, c *confirmer, cand store.Candidate) (outcome, error) {
	if why := e.ev.applies(cand); why != "" {
		return outcome{why: why}, nil
	}
	if e.trust == untested {
		e.trust = untrusted
		why, err := e.ev.calibrate(ctx, c, cand)
		if err != nil {
			return outcome{}, err
		}
		if e.why = why; why == "" {
			e.trust = trusted
		}
	}
	if e.trust != trusted {
		return unsettled("%s not trusted: %s", e.ev.label(), e.why), nil
	}
	if !c.affordable() {
		return unsettled("budget spent"), nil
	}
	c.spend()
	return e.ev.check(ctx, c, cand)
}

// confirmer settles the deletion candidates of one run within its budget. It holds what the checks
// need of the run, and no more.
type confirmer struct {
	api      API
	log      *slog.Logger
	keep     func(ctx context.Context, jobs []fetch.Job) error // upserts a candidate the service showed
	perPage  int
	recent   []fetch.Job // jobs this run listed, latest last: calibration asks about them
	maxID    int64       // the greatest job id this run listed
	calls    int         // calls left in the budget
	deadline time.Time   // no new call after this
	verified bool        // a walk of the run was verified complete
	listing  *fetch.Baseline

	sources []*evidenceSource // tried in order: the detail call, then the name search

	gone    []int64
	by      map[string]int
	checks  []store.CandidateCheck
	checked int
}

// newConfirmer sets up the checks of the run s with its budget.
func (s *syncRun) newConfirmer() *confirmer {
	c := &confirmer{api: s.src, log: s.log, keep: s.upsert, perPage: s.opts.PerPage, recent: s.recent, maxID: s.maxID,
		calls: s.opts.DeleteCheckBudget, verified: s.verified, by: map[string]int{},
		sources: []*evidenceSource{{ev: &detailEvidence{}}, {ev: searchEvidence{}}}}
	if s.opts.DeleteCheckTime > 0 {
		c.deadline = time.Now().Add(s.opts.DeleteCheckTime)
	}
	if b := s.lastBaseline; b != nil && b.Whole {
		c.listing = b
	}
	return c
}

// settleCandidates refreshes the queue of deletion candidates after the last walk, checks as many as
// the budget allows, and marks deleted those the service says do not exist, unless that would delete
// too large a share of the source (massDelete). It returns a *MassDeleteError when it refuses, and
// records the queue's length in the run's stats.
func (s *syncRun) settleCandidates(ctx context.Context) error {
	total, err := s.run.RefreshCandidates(ctx, s.opts.Now())
	if err != nil {
		return err
	}
	s.stats.DeletionsPending = total
	if total == 0 {
		return nil
	}
	c := s.newConfirmer()
	cands, err := s.run.CandidatesToCheck(ctx, max(s.opts.DeleteCheckBudget, 1))
	if err != nil {
		return err
	}
	// Checks take a request each, at the rate limit: say what is coming.
	s.log.Info("checking deletion candidates with the service", "candidates", total, "checking", len(cands),
		"budget_calls", s.opts.DeleteCheckBudget, "budget_time", s.opts.DeleteCheckTime.String())
	if err := c.checkAll(ctx, cands, s.opts.ProgressLogEvery); err != nil {
		return err
	}
	s.stats.DeletionChecks += s.opts.DeleteCheckBudget - c.calls
	if err := s.applyChecks(ctx, c, total); err != nil {
		return err
	}
	for _, e := range c.sources {
		if e.why == "" {
			continue
		}
		switch e.ev.kind() {
		case ByDetail:
			s.lastDetailWhy = e.why
		case BySearch:
			s.lastSearchWhy = e.why
		}
	}
	return ctx.Err()
}

// checkAll asks the service about cands, in order, while the budget lasts, logging its progress every
// logEvery. A cancelled ctx ends it without an error: what was settled is recorded all the same.
func (c *confirmer) checkAll(ctx context.Context, cands []store.Candidate, logEvery time.Duration) error {
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
		if time.Since(lastLog) >= logEvery && i+1 < len(cands) {
			lastLog = time.Now()
			c.log.Info("deletion checks progress", "asked", i+1, "of", len(cands), "confirmed_gone", len(c.gone),
				"calls_left", c.calls, "elapsed", time.Since(started).Round(time.Second).String())
		}
	}
	return nil
}

// applyChecks marks deleted the candidates c confirmed gone, unless the mass-deletion guard refuses,
// and records every check; total is the queue's length before.
func (s *syncRun) applyChecks(ctx context.Context, c *confirmer, total int64) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if len(c.gone) > 0 {
		live, err := s.run.LiveCount(wctx)
		if err != nil {
			return err
		}
		g := massGuard{MaxShare: s.opts.MaxDeleteShare, MaxMin: s.opts.MaxDeleteMin, Allow: s.opts.AllowMassDelete}
		if err := g.check(int64(len(c.gone)), int64(c.checked), total, live); err != nil {
			err.Setting = s.opts.AllowMassDeleteSetting
			return err
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
	return nil
}

// affordable says whether one more call fits the budget.
func (c *confirmer) affordable() bool {
	return c.calls > 0 && (c.deadline.IsZero() || time.Now().Before(c.deadline))
}

func (c *confirmer) spend() { c.calls-- }

// check asks the service about one candidate, each kind of evidence in turn, then the listing, and
// records the outcome.
func (c *confirmer) check(ctx context.Context, cand store.Candidate) error {
	c.checked++
	whys := make([]string, 0, len(c.sources))
	for _, e := range c.sources {
		o, err := e.ask(ctx, c, cand)
		if err != nil || o.settled {
			return err
		}
		whys = append(whys, o.why)
	}
	if c.listing != nil && !c.listing.Listed(cand.JobID) {
		c.confirmGone(cand, ByListing)
		return nil
	}
	c.checks = append(c.checks, store.CandidateCheck{JobID: cand.JobID, Outcome: store.CheckUnknown, Answer: strings.Join(whys, "; ")})
	return nil
}

func (c *confirmer) confirmGone(cand store.Candidate, by string) {
	c.gone = append(c.gone, cand.JobID)
	c.by[by]++
	c.log.Info("deletion confirmed by the service", "job_id", cand.JobID, "job_name", truncate(cand.Name, 100), "evidence", by)
}

// alive upserts a candidate the service showed: a walk skipped it, it was not deleted.
func (c *confirmer) alive(ctx context.Context, j fetch.Job) error {
	c.log.Warn("deletion candidate still exists; kept and updated (a walk skipped it)", "job_id", j.ID)
	if err := c.keep(ctx, []fetch.Job{j}); err != nil {
		return err
	}
	c.checks = append(c.checks, store.CandidateCheck{JobID: j.ID, Outcome: store.CheckAlive})
	return nil
}

// detailEvidence: the detail call answers the not-found it gives for an id that cannot exist.
type detailEvidence struct {
	shape fetch.NotFoundShape // its answer for an id that cannot exist, once calibrated
}

func (*detailEvidence) kind() string                   { return ByDetail }
func (*detailEvidence) label() string                  { return "detail call" }
func (*detailEvidence) applies(store.Candidate) string { return "" }

// check settles cand with the detail call.
func (d *detailEvidence) check(ctx context.Context, c *confirmer, cand store.Candidate) (outcome, error) {
	j, err := c.api.GetJob(ctx, cand.JobID)
	switch shape, notFound := fetch.JobNotFound(err); {
	case err == nil && j != nil && j.ID == cand.JobID:
		return settled, c.alive(ctx, *j)
	case err == nil:
		return unsettled("the detail call for job %d answered another job", cand.JobID), nil
	case notFound && shape == d.shape:
		c.confirmGone(cand, ByDetail)
		return settled, nil
	case ctx.Err() != nil:
		return outcome{}, ctx.Err()
	case notFound:
		return unsettled("the detail call answered %s, not the %s it gives for an id that cannot exist", shape, d.shape), nil
	default:
		return unsettled("the detail call answered: %s", textcap.Clean(err.Error(), 300)), nil
	}
}

// calibrate learns, once per run, whether the detail call gives evidence: its answer for an id that
// cannot exist must be a recognised not-found, and its answer for a job this run listed must be that
// job.
func (d *detailEvidence) calibrate(ctx context.Context, c *confirmer, cand store.Candidate) (string, error) {
	if !c.affordable() {
		return "budget spent", nil
	}
	impossible := fetch.ImpossibleJobID(max(c.maxID, cand.JobID))
	c.spend()
	_, err := c.api.GetJob(ctx, impossible)
	shape, ok := fetch.JobNotFound(err)
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case err == nil:
		return fmt.Sprintf("the detail call returned a job for id %d, which cannot exist", impossible), nil
	case !ok:
		why := "its answer for an id that cannot exist is not a recognised not-found: " + textcap.Clean(err.Error(), 300)
		c.log.Warn("the detail call gives no evidence of deletions in this run; using name searches", "reason", why)
		return why, nil
	}
	if len(c.recent) > 0 && c.affordable() {
		known := c.recent[len(c.recent)-1]
		c.spend()
		j, err := c.api.GetJob(ctx, known.ID)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil || j == nil || j.ID != known.ID {
			why := fmt.Sprintf("the detail call did not return job %d, listed in this run: %v", known.ID, err)
			c.log.Warn("the detail call gives no evidence of deletions in this run; using name searches", "reason", why)
			return why, nil
		}
	}
	d.shape = shape
	return "", nil
}

// searchEvidence: a name search answers one complete page without the candidate.
type searchEvidence struct{}

func (searchEvidence) kind() string  { return BySearch }
func (searchEvidence) label() string { return "name search" }

func (searchEvidence) applies(cand store.Candidate) string {
	if cand.Name == "" {
		return "no name to search for"
	}
	return ""
}

// check settles cand with a name search.
func (searchEvidence) check(ctx context.Context, c *confirmer, cand store.Candidate) (outcome, error) {
	p, err := c.searchName(ctx, cand.Name)
	switch {
	case ctx.Err() != nil:
		return outcome{}, ctx.Err()
	case err != nil:
		return unsettled("name search failed: %s", textcap.Clean(err.Error(), 300)), nil
	}
	if i := slices.IndexFunc(p.Jobs, func(j fetch.Job) bool { return j.ID == cand.JobID }); i >= 0 {
		return settled, c.alive(ctx, p.Jobs[i])
	}
	if !p.Whole(c.perPage) {
		return unsettled("a search for its name matched %d jobs, more than one complete page", p.TotalCount), nil
	}
	if !c.verified && cand.WalksMissed < 2 {
		return unsettled("missing from a name search, but a job renamed since it was last seen would be too: waits until a verified walk or a second walk misses it"), nil
	}
	c.confirmGone(cand, BySearch)
	return settled, nil
}

// calibrate learns, once per run, whether a name search finds a job this run listed.
func (searchEvidence) calibrate(ctx context.Context, c *confirmer, _ store.Candidate) (string, error) {
	why := ""
	tried := 0
	for i := len(c.recent) - 1; i >= 0 && tried < 2; i-- {
		known := c.recent[i]
		if known.Name == "" {
			continue
		}
		if !c.affordable() {
			return "budget spent", nil
		}
		tried++
		c.spend()
		p, err := c.searchName(ctx, known.Name)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil {
			return "a name search failed: " + textcap.Clean(err.Error(), 300), nil
		}
		if slices.ContainsFunc(p.Jobs, func(j fetch.Job) bool { return j.ID == known.ID }) {
			return "", nil
		}
		why = fmt.Sprintf("a search for the name of job %d, listed in this run, did not find it", known.ID)
	}
	if tried == 0 {
		why = "no job listed in this run to test a name search with"
	}
	c.log.Warn("name searches give no evidence of deletions in this run", "reason", why)
	return why, nil
}

// searchName lists the first page of the jobs whose name matches name (fetch.NameSearch).
func (c *confirmer) searchName(ctx context.Context, name string) (*fetch.Page, error) {
	q := fetch.Query{Page: 1, PerPage: c.perPage, SortBy: fetch.SortCreateTime, Order: "asc", SearchContent: fetch.NameSearch(name)}
	return c.api.ListPage(ctx, q)
}
