package syncer

import (
	"context"
	"math"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
)

// Progress is how far a run has come, reported after each stored batch of pages
// (Options.Progress) and recorded in the run's ledger row as it goes.
type Progress struct {
	Source     string
	RunID      int64
	Walk       int           // the walk in progress (1, then 2... when a walk is retried)
	Pages      int           // pages stored by this walk
	PagesTotal int           // pages this walk needs at the latest job_total_count (0: unknown)
	Jobs       int64         // jobs stored by this walk
	Total      int64         // job_total_count of the latest page
	Requests   int           // HTTP requests of the run so far, retries included
	Elapsed    time.Duration // since this walk started
}

// Rate is the walk's pages per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Pages) / p.Elapsed.Seconds()
}

// ETA is the time the rest of the walk takes at its rate so far (0: unknown).
func (p Progress) ETA() time.Duration {
	rate := p.Rate()
	if rate <= 0 || p.PagesTotal <= p.Pages {
		return 0
	}
	return time.Duration(float64(p.PagesTotal-p.Pages) / rate * float64(time.Second)).Round(time.Second)
}

// Estimate is how long a walk of pages takes at rateLimit requests per second (0: no limit, no estimate).
func Estimate(pages int, rateLimit float64) time.Duration {
	if rateLimit <= 0 || pages <= 0 {
		return 0
	}
	return time.Duration(float64(pages) / rateLimit * float64(time.Second)).Round(time.Second)
}

// Default intervals of progress reports (Options.ProgressEvery, Options.ProgressLogEvery).
const (
	DefaultProgressEvery    = 2 * time.Second
	DefaultProgressLogEvery = 10 * time.Second
	// longWalk: a walk estimated to take longer than this at the rate limit is announced with a hint.
	longWalk = time.Minute
)

// progress tracks one walk: it calls Options.Progress, updates the ledger row at most every
// ProgressEvery, and logs a line every ProgressLogEvery when no Progress callback is set.
type progress struct {
	walkStart time.Time
	pages     int
	jobs      int64
	announced bool
	lastRow   time.Time
	lastLog   time.Time
}

// metered returns st with the requests and retries the run's meter has counted so far.
func (s *syncRun) metered(st store.RunStats) store.RunStats {
	c := s.meter.Counts()
	st.Requests, st.Retries = c.Requests(), c.Retries
	return st
}

// startWalk resets the walk's counters.
func (s *syncRun) startWalk() {
	s.prog = progress{walkStart: time.Now(), lastLog: time.Now(), lastRow: time.Now()}
}

// batchStored reports the progress after a batch of pages was stored.
func (s *syncRun) batchStored(ctx context.Context, walk int, pages []*fetch.Page, jobs int) {
	pr := &s.prog
	pr.pages += len(pages)
	pr.jobs += int64(jobs)
	var total int64
	for _, p := range pages {
		total = p.TotalCount
	}
	p := Progress{
		Source: s.opts.Source, RunID: s.run.ID(), Walk: walk, Pages: pr.pages, Jobs: pr.jobs, Total: total,
		Requests: s.meter.Counts().Requests(), Elapsed: time.Since(pr.walkStart),
	}
	if total > 0 { // a short last page, or the empty page that confirms a full one
		p.PagesTotal = int(min((total+int64(s.opts.PerPage))/int64(s.opts.PerPage), math.MaxInt32))
	}
	if !pr.announced && walk == 1 {
		pr.announced = true
		if est := Estimate(p.PagesTotal, s.opts.RateLimit); est > longWalk {
			s.log.Info("long walk ahead", "jobs", total, "pages", p.PagesTotal, "rate_limit", s.opts.RateLimit,
				"estimate_at_starting_rate", est.String(),
				"hint", "the client raises its rate toward the API's quota while no request is throttled, up to "+
					"--max-rate-limit (INDEXER_MAX_RATE_LIMIT); --rate-limit (INDEXER_RATE_LIMIT) is where it starts")
		}
	}
	if s.opts.Progress != nil {
		s.opts.Progress(p)
	} else if time.Since(pr.lastLog) >= s.opts.ProgressLogEvery {
		pr.lastLog = time.Now()
		s.log.Info("sync progress", "walk", walk, "pages", p.Pages, "pages_total", p.PagesTotal,
			"jobs", p.Jobs, "api_total_count", p.Total, "pages_per_second", math.Round(p.Rate()*10)/10,
			"eta", p.ETA().String())
	}
	if time.Since(pr.lastRow) >= s.opts.ProgressEvery {
		pr.lastRow = time.Now()
		st := s.metered(s.stats)
		st.Pages += pr.pages
		st.JobsSeen = max(st.JobsSeen, pr.jobs)
		st.APITotalCount = total
		if err := s.run.Progress(ctx, st); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot record the run's progress", "error", err)
		}
	}
}
