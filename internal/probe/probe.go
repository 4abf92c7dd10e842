// Package probe checks a live source against the assumptions the sync relies on for what the API
// documentation leaves open, with a handful of read-only requests, and says for each what the
// indexer does when it does not hold.
package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/textcap"
)

// API is what the probe needs from the ModelArts API (a *fetch.Client).
type API interface {
	ListPage(ctx context.Context, q fetch.Query) (*fetch.Page, error)
	GetJob(ctx context.Context, jobID int64) (*fetch.Job, error)
}

var _ API = (*fetch.Client)(nil)

// Verdicts of a check.
const (
	OK         = "ok"
	Unexpected = "unexpected"
	Skipped    = "skipped" // could not be checked (an earlier check failed, or nothing to check with)
	// Consequence: the check did not hold, but page_numbering explains it: its requests read pages
	// the service numbers otherwise. It is reported, not counted as a failure of its own.
	Consequence = "consequence"
)

// Check is one assumption, what the probe observed, and what the indexer does about it.
type Check struct {
	Name        string `json:"name"`
	Assumption  string `json:"assumption"`
	Observed    string `json:"observed"`
	Verdict     string `json:"verdict"`
	Consequence string `json:"consequence"` // what the indexer does when the assumption does not hold
}

// Options shape the probe.
type Options struct {
	PerPage  int    // the sync's page size (default 100)
	AuthMode string // for the report: fetch.AuthAKSK or fetch.AuthToken
	MaxPages int    // job_total_count is checked against the pages when it needs at most this many (default 10)
}

// Run runs every check, in order; a check that needs what an earlier one failed to get is skipped.
func Run(ctx context.Context, src API, opts Options) []Check {
	opts.PerPage = cmp.Or(opts.PerPage, fetch.DefaultPerPage)
	opts.MaxPages = cmp.Or(opts.MaxPages, 10)
	p := &prober{src: src, opts: opts}
	p.auth(ctx)
	p.pageSize(ctx)
	p.pageNumbering(ctx)
	p.stableOrder(ctx)
	p.detailMatches(ctx)
	p.detailNotFound(ctx)
	p.nameSearch(ctx)
	p.statusFilter(ctx)
	p.totalCount(ctx)
	return p.checks
}

// AllOK says whether every check held (skipped ones count as not holding).
func AllOK(checks []Check) bool {
	return !slices.ContainsFunc(checks, func(c Check) bool { return c.Verdict != OK })
}

type prober struct {
	src    API
	opts   Options
	checks []Check
	page1  *fetch.Page // the sync's first page, per_page = PerPage
	// jobsFrom is the page the checks take a known job from: page 1, or the default page when
	// page_numbering found that page 1 is not the first.
	jobsFrom *fetch.Page
	authOK   bool
	pagesOK  bool // page_numbering held: checks that read pages other than the default one are not explained by it
}

func (p *prober) add(c Check) { p.checks = append(p.checks, c) }

// addPaged adds a check whose requests name a page: when it did not hold and page_numbering did not
// either, the pages explain it, and it is reported as a consequence, not a failure of its own.
func (p *prober) addPaged(c Check) {
	if c.Verdict == Unexpected && !p.pagesOK && p.page1 != nil {
		c.Verdict = Consequence
		c.Observed += " (explained by page_numbering: the request names a page the service numbers otherwise)"
	}
	p.add(c)
}

func (p *prober) syncQuery(page int) fetch.Query {
	return fetch.Query{Page: page, PerPage: p.opts.PerPage, SortBy: fetch.SortCreateTime, Order: "asc"}
}

func (p *prober) auth(ctx context.Context) {
	c := Check{Name: "auth", Assumption: "authentication works in the configured mode (" + cmp.Or(p.opts.AuthMode, "?") + ")",
		Consequence: "nothing can be synced: every run fails; fix the credentials, project id or endpoint (not retried: repeated failures lock a key)"}
	pg, err := p.src.ListPage(ctx, fetch.Query{Page: 1, PerPage: 1})
	if err != nil {
		c.Verdict, c.Observed = Unexpected, err.Error()
	} else {
		c.Verdict, c.Observed = OK, fmt.Sprintf("list call answered; job_total_count %d", pg.TotalCount)
		p.authOK = true
	}
	p.add(c)
}

func (p *prober) skip(c Check, why string) {
	c.Verdict, c.Observed = Skipped, why
	p.add(c)
}

func (p *prober) pageSize(ctx context.Context) {
	c := Check{Name: "per_page", Assumption: fmt.Sprintf("per_page=%d is accepted and honoured, sorted by create_time", p.opts.PerPage),
		Consequence: "walks fail or take more pages: set INDEXER_PER_PAGE / INDEXER_MAX_PER_PAGE to what the endpoint accepts"}
	if !p.authOK {
		p.skip(c, "not checked: the first request failed (see auth)")
		return
	}
	pg, err := p.src.ListPage(ctx, p.syncQuery(1))
	switch {
	case err != nil:
		c.Verdict, c.Observed = Unexpected, err.Error()
	case len(pg.Jobs)+len(pg.BadItems) != int(min(pg.TotalCount, int64(p.opts.PerPage))):
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("page 1 held %d items for job_total_count %d", len(pg.Jobs)+len(pg.BadItems), pg.TotalCount)
		p.page1 = pg
	case !slices.IsSortedFunc(pg.Jobs, func(a, b fetch.Job) int { return cmp.Compare(a.CreateTime, b.CreateTime) }):
		c.Verdict, c.Observed = Unexpected, "page 1 is not in create_time order"
		c.Consequence = "walks cannot be proven complete (runs partial); deletions still need the service's own word"
		p.page1 = pg
	default:
		c.Verdict, c.Observed = OK, fmt.Sprintf("%d items, in create_time order", len(pg.Jobs))
		p.page1 = pg
	}
	p.add(c)
}

// pageNumbering checks how the list call reads page, which the documentation gives only as "the
// index of the page to be queried, default 1": page 1 is the default page (page omitted), page 2
// follows page 1 without sharing a job, and what a page past the last answers (empty; the last page
// again, or a 400/404: the sync ends its walk there too).
func (p *prober) pageNumbering(ctx context.Context) {
	c := Check{Name: "page_numbering", Assumption: "page counts from 1: page 1 is the page given when page is omitted, page 2 shares no job with it, a page past the last is empty (or the last again, or a 400/404)",
		Consequence: "the sync cannot walk these pages: each full run stops at the first page that shows it, partial, keeping what it read, checking no deletion and walking no more; " +
			"name searches and status listings that name a page may fail for the same reason"}
	if p.page1 == nil {
		p.skip(c, "page 1 could not be read (see per_page)")
		return
	}
	if p.page1.TotalCount == 0 && len(p.page1.Jobs) == 0 {
		p.skip(c, "no jobs listed: nothing to tell the pages by")
		return
	}
	q := p.syncQuery(0)
	q.OmitPage = true
	dflt, err := p.src.ListPage(ctx, q)
	if err != nil {
		c.Verdict, c.Observed = Unexpected, "page omitted: "+err.Error()
		p.add(c)
		return
	}
	page2, err2 := p.src.ListPage(ctx, p.syncQuery(2))
	last := int(max((p.page1.TotalCount+int64(p.opts.PerPage)-1)/int64(p.opts.PerPage), 1))
	a, d := ids(p.page1.Jobs), ids(dflt.Jobs)
	var problems []string
	switch {
	case len(d) > 0 && len(a) == 0:
		problems = append(problems, fmt.Sprintf("page 1 is empty while page omitted starts at job %d: pages seem counted from 0", d[0]))
	case len(d) > 0 && a[0] != d[0]:
		problems = append(problems, fmt.Sprintf("page 1 starts at job %d, page omitted at job %d: pages seem counted from 0 (page=1 is the second page)", a[0], d[0]))
	}
	if err2 == nil && last >= 2 && len(a) > 0 && overlap(a, ids(page2.Jobs)) == len(a) {
		problems = append(problems, fmt.Sprintf("page 2 holds the same %d jobs as page 1 although job_total_count %d needs %d pages: page is ignored", len(a), p.page1.TotalCount, last))
	} else if err2 == nil && last >= 2 && overlap(a, ids(page2.Jobs)) > 0 {
		problems = append(problems, fmt.Sprintf("page 2 shares %d jobs with page 1", overlap(a, ids(page2.Jobs))))
	} else if err2 != nil && last >= 2 {
		problems = append(problems, "page 2: "+err2.Error())
	}
	past := p.pastLast(ctx, last)
	if len(problems) > 0 {
		c.Verdict, c.Observed = Unexpected, strings.Join(problems, "; ")+"; past the last page: "+past
		p.add(c)
		// per_page counted page 1's jobs, which the pages explain; the checks after this one take
		// their job from the default page.
		for i := range p.checks {
			if p.checks[i].Name == "per_page" && p.checks[i].Verdict == Unexpected && strings.Contains(p.checks[i].Observed, "page 1 held") {
				p.checks[i].Verdict = Consequence
				p.checks[i].Observed += " (explained by page_numbering)"
			}
		}
		if len(dflt.Jobs) > 0 {
			p.jobsFrom = dflt
		}
		return
	}
	c.Verdict, c.Observed = OK, "page 1 is the default page; page 2 follows it; past the last page: "+past
	p.pagesOK = true
	p.add(c)
}

// pastLast asks for the page after last (the last page job_total_count announces) and says what it
// answered; an answer the sync does not end its walk on says so.
func (p *prober) pastLast(ctx context.Context, last int) string {
	pg, err := p.src.ListPage(ctx, p.syncQuery(last+1))
	var ae *fetch.APIError
	switch {
	case errors.As(err, &ae) && (ae.HTTPStatus == 400 || ae.HTTPStatus == 404):
		return fmt.Sprintf("page %d answered HTTP %d %s (the sync ends its walk there)", last+1, ae.HTTPStatus, ae.Code)
	case err != nil:
		return fmt.Sprintf("page %d: %s (the sync fails its walk there)", last+1, textcap.Clean(err.Error(), 160))
	case len(pg.Jobs)+len(pg.BadItems) == 0:
		return fmt.Sprintf("page %d is empty", last+1)
	}
	lastPage, err := p.src.ListPage(ctx, p.syncQuery(last))
	if err == nil && overlap(ids(pg.Jobs), ids(lastPage.Jobs)) == len(pg.Jobs) {
		return fmt.Sprintf("page %d repeats page %d, the last (the sync ends its walk there)", last+1, last)
	}
	return fmt.Sprintf("page %d holds %d jobs not on page %d, the last job_total_count announces (the sync goes at most %d pages past it)", last+1, len(pg.Jobs), last, fetch.PagesPastTotal)
}

// overlap counts the ids of a that are also in b.
func overlap(a, b []int64) int {
	n := 0
	for _, id := range a {
		if slices.Contains(b, id) {
			n++
		}
	}
	return n
}

func (p *prober) stableOrder(ctx context.Context) {
	c := Check{Name: "stable_order", Assumption: "two reads of page 1 in the sync's order agree",
		Consequence: "walks are rarely proven complete (runs partial, more deletion candidates to check); no false deletion: a deletion needs the service's own word"}
	if p.page1 == nil {
		p.skip(c, "page 1 could not be read")
		return
	}
	again, err := p.src.ListPage(ctx, p.syncQuery(1))
	if err != nil {
		c.Verdict, c.Observed = Unexpected, err.Error()
		p.add(c)
		return
	}
	a, b := ids(p.page1.Jobs), ids(again.Jobs)
	if slices.Equal(a, b) {
		c.Verdict, c.Observed = OK, fmt.Sprintf("same %d jobs in the same order", len(a))
	} else {
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("first read %v, second %v", clipIDs(a), clipIDs(b))
	}
	p.add(c)
}

func (p *prober) known() (fetch.Job, bool) {
	from := cmp.Or(p.jobsFrom, p.page1)
	if from == nil || len(from.Jobs) == 0 {
		return fetch.Job{}, false
	}
	return from.Jobs[len(from.Jobs)-1], true
}

func (p *prober) detailMatches(ctx context.Context) {
	c := Check{Name: "detail_matches_list", Assumption: "the detail call returns a listed job, as the list call shows it",
		Consequence: "the detail call gives no evidence of deletions: candidates are confirmed by name searches (slower; a renamed job waits for a second missed walk)"}
	j, ok := p.known()
	if !ok {
		p.skip(c, "no job listed to ask about")
		return
	}
	d, err := p.src.GetJob(ctx, j.ID)
	switch {
	case err != nil:
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("job %d: %v", j.ID, err)
	case d.ID != j.ID || d.Name != j.Name || d.Status != j.Status || d.CreateTime != j.CreateTime || d.Desc != j.Desc:
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("job %d: detail %d %q status %d, list %d %q status %d", j.ID, d.ID, d.Name, d.Status, j.ID, j.Name, j.Status)
	default:
		c.Verdict, c.Observed = OK, fmt.Sprintf("job %d: same id, name, status, create_time and description", j.ID)
	}
	p.add(c)
}

func (p *prober) detailNotFound(ctx context.Context) {
	c := Check{Name: "detail_not_found", Assumption: "the detail call answers a missing job with a recognised not-found (a ModelArts.* code, HTTP 404 or 400, a message saying not found)",
		Consequence: "the detail call gives no evidence of deletions: candidates are confirmed by name searches; if those give none either, jobs deleted at the source stay live in the mirror and runs end partial"}
	if !p.authOK {
		p.skip(c, "not checked: the first request failed (see auth)")
		return
	}
	var maxID int64
	if from := cmp.Or(p.jobsFrom, p.page1); from != nil {
		for _, j := range from.Jobs {
			maxID = max(maxID, j.ID)
		}
	}
	id := fetch.ImpossibleJobID(maxID)
	_, err := p.src.GetJob(ctx, id)
	shape, ok := fetch.JobNotFound(err)
	switch {
	case err == nil:
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("id %d, which cannot exist, returned a job", id)
	case ok:
		c.Verdict, c.Observed = OK, fmt.Sprintf("id %d: %s (%s)", id, shape, textcap.Clean(err.Error(), 160))
	default:
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("id %d: %s", id, textcap.Clean(err.Error(), 200))
	}
	p.add(c)
}

func (p *prober) nameSearch(ctx context.Context) {
	c := Check{Name: "name_search", Assumption: "search_content=<a job's name> finds that job (what else it matches is reported)",
		Consequence: "name searches give no evidence of deletions; with the detail call giving none either, deletions are mirrored only for small tenants (one short page of jobs)"}
	j, ok := p.known()
	if !ok || j.Name == "" {
		p.skip(c, "no named job listed to search for")
		return
	}
	name := fetch.NameSearch(j.Name)
	pg, err := p.src.ListPage(ctx, fetch.Query{Page: 1, PerPage: p.opts.PerPage, SortBy: fetch.SortCreateTime, Order: "asc", SearchContent: name})
	if err != nil {
		c.Verdict, c.Observed = Unexpected, err.Error()
		p.addPaged(c)
		return
	}
	found := slices.ContainsFunc(pg.Jobs, func(x fetch.Job) bool { return x.ID == j.ID })
	others := 0
	for _, x := range pg.Jobs {
		if x.ID != j.ID && !strings.Contains(strings.ToLower(x.Name), strings.ToLower(name)) {
			others++
		}
	}
	obs := fmt.Sprintf("search %q: %d matches (job_total_count %d)", name, len(pg.Jobs), pg.TotalCount)
	if others > 0 {
		obs += fmt.Sprintf(", %d of them without the text in their name (other fields, or the filter is ignored)", others)
	}
	if pg.TotalCount >= int64(p.opts.PerPage) {
		obs += "; more than one page: such a search gives no evidence"
	}
	if found {
		c.Verdict, c.Observed = OK, "found; "+obs
	} else {
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("job %d not found; %s", j.ID, obs)
	}
	p.addPaged(c)
}

func (p *prober) statusFilter(ctx context.Context) {
	c := Check{Name: "status_filter", Assumption: "status=<code> returns only jobs in that status",
		Consequence: "head walks notice it and ask the detail call about active jobs instead, within their budget: status changes are recorded later, at the latest by the next full walk; full walks do not filter"}
	j, ok := p.known()
	if !ok {
		p.skip(c, "no job listed to take a status from")
		return
	}
	st := j.Status
	pg, err := p.src.ListPage(ctx, fetch.Query{Page: 1, PerPage: p.opts.PerPage, Status: &st})
	if err != nil {
		c.Verdict, c.Observed = Unexpected, err.Error()
		p.addPaged(c)
		return
	}
	wrong := 0
	for _, x := range pg.Jobs {
		if x.Status != st {
			wrong++
		}
	}
	switch {
	case wrong > 0:
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("status=%d: %d of %d jobs in another status", st, wrong, len(pg.Jobs))
	case !slices.ContainsFunc(pg.Jobs, func(x fetch.Job) bool { return x.ID == j.ID }) && pg.TotalCount < int64(p.opts.PerPage):
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("status=%d: %d jobs, not job %d which has that status", st, len(pg.Jobs), j.ID)
	default:
		c.Verdict, c.Observed = OK, fmt.Sprintf("status=%d: %d jobs, all in that status", st, len(pg.Jobs))
	}
	p.addPaged(c)
}

func (p *prober) totalCount(ctx context.Context) {
	c := Check{Name: "total_count", Assumption: "job_total_count equals the jobs the pages hold",
		Consequence: "walks are not proven complete (runs partial) and end by short pages, not by the total; no false deletion"}
	if p.page1 == nil {
		p.skip(c, "page 1 could not be read")
		return
	}
	total := p.page1.TotalCount
	if total > int64(p.opts.MaxPages*p.opts.PerPage) {
		p.skip(c, fmt.Sprintf("job_total_count %d needs more than %d pages: not checked, to stay cheap", total, p.opts.MaxPages))
		return
	}
	// Walked as the sync walks (fetch.Walk): it ends where the sync's walks end, past the last page too.
	seen := map[int64]bool{}
	_, err := fetch.Walk(ctx, p.src, fetch.WalkOptions{PerPage: p.opts.PerPage, MaxPages: p.opts.MaxPages + 1},
		func(_ context.Context, pg *fetch.Page) error {
			for _, j := range pg.Jobs {
				seen[j.ID] = true
			}
			return nil
		})
	if err != nil {
		c.Verdict, c.Observed = Unexpected, textcap.Clean(err.Error(), 300)
		p.addPaged(c)
		return
	}
	if int64(len(seen)) == total {
		c.Verdict, c.Observed = OK, fmt.Sprintf("%d jobs on the pages, job_total_count %d", len(seen), total)
	} else {
		c.Verdict, c.Observed = Unexpected, fmt.Sprintf("%d distinct jobs on the pages, job_total_count %d (jobs may have been created or deleted meanwhile: probe again)", len(seen), total)
	}
	p.addPaged(c)
}

func ids(jobs []fetch.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func clipIDs(ids []int64) string {
	if len(ids) > 8 {
		return fmt.Sprintf("%v...", ids[:8])
	}
	return fmt.Sprint(ids)
}
