package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
	"github.com/vizjob/indexer/internal/ttlcache"
)

// stateSkipped labels the scheduled runs that did not start because another run of the source (in
// another replica) held its lease.
const stateSkipped = "skipped"

// scrapeTimeout bounds the database queries of one scrape of /metrics.
const scrapeTimeout = 5 * time.Second

// metrics are the daemon's Prometheus series, in a registry of its own.
type metrics struct {
	runs     *prometheus.CounterVec   // vizjob_sync_runs_total{source,state}: full walks
	heads    *prometheus.CounterVec   // vizjob_head_walks_total{source,state}
	duration *prometheus.HistogramVec // vizjob_sync_run_duration_seconds{source}
	requests *prometheus.CounterVec   // vizjob_api_requests_total{source,code}
	retries  *prometheus.CounterVec   // vizjob_api_retries_total{source}
	deleted  *prometheus.CounterVec   // vizjob_deletions_total{source,evidence}
	throttle *prometheus.CounterVec   // vizjob_api_throttled_total{source}
	queue    *queueMetrics            // the job queue's series (queue_metrics.go)
	reg      *prometheus.Registry
}

func newMetrics(reg *prometheus.Registry, st *store.Store, sources []string, log *slog.Logger) *metrics {
	m := &metrics{
		reg: reg,
		throttle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_throttled_total",
			Help: "Answers 429 (throttled by the API gateway's quota) by source; each backs the source's request rate off.",
		}, []string{"source"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_sync_runs_total",
			Help: "Full walks by source and outcome: succeeded, partial, failed, or skipped (another replica was syncing the source). Head walks count in vizjob_head_walks_total.",
		}, []string{"source", "state"}),
		heads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_head_walks_total",
			Help: "Head walks (the newest jobs and the jobs in a status that is not final, between full walks) by source and outcome: succeeded, partial, failed, or skipped (a full walk or another replica held the source).",
		}, []string{"source", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vizjob_sync_run_duration_seconds",
			Help:    "Duration of the runs this process made, whatever their outcome.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"source"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_requests_total",
			Help: "HTTP requests to the ModelArts and IAM APIs, retries included, by source and HTTP status (code=\"error\": no answer, e.g. a network error or timeout; code=\"other\": a status net/http does not name).",
		}, []string{"source", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_retries_total",
			Help: "HTTP requests that retried a failed one, by source.",
		}, []string{"source"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_deletions_total",
			Help: "Jobs this process marked deleted, by source and the service's evidence: detail (the detail call's not-found), search (a trusted name search), listing (the whole listing in one short page).",
		}, []string{"source", "evidence"}),
	}
	// Every source has its series from the start, so that rate() and alerts see them before the first run.
	for _, s := range sources {
		for _, state := range []string{store.StateSucceeded, store.StatePartial, store.StateFailed, stateSkipped} {
			m.runs.WithLabelValues(s, state)
			m.heads.WithLabelValues(s, state)
		}
		m.retries.WithLabelValues(s)
		m.throttle.WithLabelValues(s)
		for _, by := range []string{syncer.ByDetail, syncer.BySearch, syncer.ByListing} {
			m.deleted.WithLabelValues(s, by)
		}
	}
	reg.MustRegister(m.runs, m.heads, m.duration, m.requests, m.retries, m.deleted, m.throttle,
		newDBCollector(st, sources, log),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.queue = newQueueMetrics(reg, log)
	return m
}

// watchRate exports the request rate a source's client has adapted to.
func (m *metrics) watchRate(source string, rate func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "vizjob_api_request_rate",
		Help:        "Requests per second the source's client sends at now: it grows while the API answers and backs off on a 429 (0: no limit).",
		ConstLabels: prometheus.Labels{"source": source},
	}, rate))
}

// counter is the run counter of a kind of run.
func (m *metrics) counter(kind string) *prometheus.CounterVec {
	if kind == store.KindHead {
		return m.heads
	}
	return m.runs
}

// observe records the outcome of one run that was not skipped.
func (m *metrics) observe(source, kind string, res syncer.Result, took time.Duration) {
	state := res.State
	if res.RunID == 0 || state == "" {
		state = store.StateFailed // the run could not even start (database unreachable): the syncer logged why
	} else if kind != store.KindHead {
		m.duration.WithLabelValues(source).Observe(took.Seconds())
	}
	m.counter(kind).WithLabelValues(source, state).Inc()
	m.retries.WithLabelValues(source).Add(float64(res.Retries))
	for by, n := range res.DeletedBy {
		m.deleted.WithLabelValues(source, by).Add(float64(n))
	}
}

// codeLabel is the code label of an HTTP answer: its status, "error" when none came, or "other" for
// a status net/http does not name (any three digits may come: they do not each get a series).
func codeLabel(status int) string {
	switch {
	case status == 0:
		return "error"
	case http.StatusText(status) == "":
		return "other"
	}
	return strconv.Itoa(status)
}

// dbCollector reports what the database knows, whichever replica wrote it: live jobs by source and
// status, and when each source last succeeded. The figures are read at most every metricsCacheTTL,
// however often /metrics is scraped.
type dbCollector struct {
	log     *slog.Logger
	sources []string
	cache   ttlcache.Value[dbFigures]

	jobs, lastSuccess, up, pending, pendingAge *prometheus.Desc
}

// dbFigures is one read of the database for /metrics; ok is false if a query failed.
type dbFigures struct {
	counts    []store.JobCount
	last      []store.SourceSuccess
	pending   []store.PendingCandidates
	pendingOK bool
	ok        bool
}

func newDBCollector(st *store.Store, sources []string, log *slog.Logger) *dbCollector {
	c := &dbCollector{
		log:     log,
		sources: sources,
		jobs: prometheus.NewDesc("vizjob_jobs",
			"Live (not deleted) jobs in the mirror by source and status code; status_name is the documented name. The codes outside the documented set are summed in one series, status=\"other\" (the API decides which codes come: they do not each get a series). Running jobs are status=\"8\" (JOBSTAT_RUNNING) only, as modelarts.job_statuses.is_running says.",
			[]string{"source", "status", "status_name"}, nil),
		lastSuccess: prometheus.NewDesc("vizjob_last_success_timestamp_seconds",
			"When the last succeeded run of the source finished (any replica's), as a Unix time.",
			[]string{"source"}, nil),
		pending: prometheus.NewDesc("vizjob_deletion_candidates",
			"Jobs missing from the last walk of the source that still wait for the service's word on them (modelarts.deletion_candidates).",
			[]string{"source"}, nil),
		pendingAge: prometheus.NewDesc("vizjob_deletion_candidate_oldest_age_seconds",
			"How long the oldest deletion candidate of the source has been waiting; 0 when none waits.",
			[]string{"source"}, nil),
		up: prometheus.NewDesc("vizjob_database_up",
			"1 if vizjob_jobs and vizjob_last_success_timestamp_seconds could be read from the database (at most 5 s ago), else 0.",
			nil, nil),
	}
	c.cache = ttlcache.Value[dbFigures]{TTL: metricsCacheTTL, Load: func(ctx context.Context) (dbFigures, error) {
		ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		defer cancel()
		f := dbFigures{ok: true}
		var err error
		if f.counts, err = st.CountJobs(ctx, sources); err != nil {
			c.log.Warn("metrics: cannot count jobs", "error", err)
			f.ok = false
		}
		if f.last, err = st.LastSuccesses(ctx, sources); err != nil {
			c.log.Warn("metrics: cannot read the last successes", "error", err)
			f.ok = false
		}
		if f.pending, err = st.PendingCandidates(ctx, sources); err != nil {
			c.log.Warn("metrics: cannot read the deletion candidates", "error", err)
			f.ok = false
		}
		f.pendingOK = err == nil
		return f, nil
	}}
	return c
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.lastSuccess
	ch <- c.up
	ch <- c.pending
	ch <- c.pendingAge
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	f, _ := c.cache.Get(context.Background())
	up := 0.0
	if f.ok {
		up = 1
	}
	other := map[string]int64{} // source -> live jobs in an undocumented status
	for _, n := range f.counts {
		if strings.HasPrefix(n.StatusName, "UNDOCUMENTED_") {
			other[n.Source] += n.Jobs
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n.Jobs),
			n.Source, strconv.Itoa(n.Status), n.StatusName)
	}
	for src, n := range other {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), src, "other", "")
	}
	for _, l := range f.last {
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue,
			float64(l.FinishedAt.UnixNano())/1e9, l.Source)
	}
	now := time.Now()
	for _, src := range c.sources {
		var n, age float64
		for _, p := range f.pending {
			if p.Source == src {
				n, age = float64(p.Count), max(now.Sub(p.Oldest).Seconds(), 0)
			}
		}
		if f.pendingOK {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, n, src)
			ch <- prometheus.MustNewConstMetric(c.pendingAge, prometheus.GaugeValue, age, src)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
