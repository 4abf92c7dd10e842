package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
//
// Per source, always: runs and head walks by outcome, live and running jobs, the three freshness
// timestamps and the deletion queue (11 series a source, and one per outcome partial or skipped
// once one happened). With detail (INDEXER_METRICS_DETAIL) also
// by source: jobs per status code, run durations, API requests, retries, throttling, deletions and
// the request rate; without it those have no source label, so that /metrics stays under 1 MB for a
// thousand sources.
type metrics struct {
	detail   bool
	runs     *prometheus.CounterVec   // vizjob_sync_runs_total{source,state}: full walks
	heads    *prometheus.CounterVec   // vizjob_head_walks_total{source,state}
	duration *prometheus.HistogramVec // vizjob_sync_run_duration_seconds{[source]}
	requests *prometheus.CounterVec   // vizjob_api_requests_total{[source,]code}
	retries  *prometheus.CounterVec   // vizjob_api_retries_total{[source]}
	deleted  *prometheus.CounterVec   // vizjob_deletions_total{[source,]evidence}
	throttle *prometheus.CounterVec   // vizjob_api_throttled_total{[source]}
	pruned   *prometheus.CounterVec   // vizjob_ledger_pruned_runs_total{kind}
	folded   prometheus.Counter       // vizjob_ledger_folded_hours_total
	db       *dbCollector
	queue    *queueMetrics // the job queue's series (queue_metrics.go)
	reg      *prometheus.Registry
}

// bySource are the label names of a series that has the source label only with detail.
func bySource(detail bool, names ...string) []string {
	if detail {
		return append([]string{"source"}, names...)
	}
	return names
}

// labels are the label values of such a series: the source's only with detail.
func (m *metrics) labels(source string, values ...string) []string {
	if m.detail {
		return append([]string{source}, values...)
	}
	return values
}

func newMetrics(reg *prometheus.Registry, st *store.Store, sources []string, detail bool, log *slog.Logger) *metrics {
	m := &metrics{
		detail: detail,
		reg:    reg,
		throttle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_throttled_total",
			Help: "Answers 429 (throttled by the API gateway's quota), by source with INDEXER_METRICS_DETAIL; each backs the source's request rate off.",
		}, bySource(detail)),
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
			Help:    "Duration of the full walks this process made, whatever their outcome; by source with INDEXER_METRICS_DETAIL.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, bySource(detail)),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_requests_total",
			Help: "HTTP requests to the ModelArts and IAM APIs, retries included, by HTTP status (code=\"error\": no answer, e.g. a network error or timeout; code=\"other\": a status net/http does not name); by source too with INDEXER_METRICS_DETAIL.",
		}, bySource(detail, "code")),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_api_retries_total",
			Help: "HTTP requests that retried a failed one; by source with INDEXER_METRICS_DETAIL.",
		}, bySource(detail)),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_ledger_pruned_runs_total",
			Help: "Runs this process deleted from modelarts.sync_runs under the retention settings: noop (wrote nothing, INDEXER_LEDGER_KEEP_NOOP) or other (INDEXER_LEDGER_KEEP). Their counts stay in modelarts.sync_run_counts.",
		}, []string{"kind"}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vizjob_ledger_folded_hours_total",
			Help: "Hourly rows of modelarts.sync_run_counts (a source, kind and hour) this process folded into daily rows of modelarts.sync_run_daily_counts, for the UTC days older than INDEXER_LEDGER_KEEP.",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_deletions_total",
			Help: "Jobs this process marked deleted, by the service's evidence: detail (the detail call's not-found), search (a trusted name search), listing (the whole listing in one short page); by source too with INDEXER_METRICS_DETAIL.",
		}, bySource(detail, "evidence")),
	}
	// Every source has its series from the start, so that rate() and alerts see them before the first
	// run; without detail, runs partial and skipped appear when the first one is counted (absent is 0).
	states := []string{store.StateSucceeded, store.StateFailed}
	if detail {
		states = append(states, store.StatePartial, stateSkipped)
	}
	for _, s := range sources {
		for _, state := range states {
			m.runs.WithLabelValues(s, state)
			m.heads.WithLabelValues(s, state)
		}
		m.retries.WithLabelValues(m.labels(s)...)
		m.throttle.WithLabelValues(m.labels(s)...)
		for _, by := range []string{syncer.ByDetail, syncer.BySearch, syncer.ByListing} {
			m.deleted.WithLabelValues(m.labels(s, by)...)
		}
	}
	m.pruned.WithLabelValues("noop")
	m.pruned.WithLabelValues("other")
	m.db = newDBCollector(st, sources, detail, log)
	reg.MustRegister(m.runs, m.heads, m.duration, m.requests, m.retries, m.deleted, m.throttle, m.pruned, m.folded, m.db,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.queue = newQueueMetrics(reg, log)
	return m
}

// watchRate exports the request rate a source's client has adapted to (with detail only: one series
// a source).
func (m *metrics) watchRate(source string, rate func() float64) {
	if !m.detail {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "vizjob_api_request_rate",
		Help:        "Requests per second the source's client sends at now: it grows while the API answers and backs off on a 429 (0: no limit).",
		ConstLabels: prometheus.Labels{"source": source},
	}, rate))
}

// request counts one answer of the API to a request of source (status 0: none came).
func (m *metrics) request(source string, status int) {
	m.requests.WithLabelValues(m.labels(source, codeLabel(status))...).Inc()
	if status == http.StatusTooManyRequests {
		m.throttle.WithLabelValues(m.labels(source)...).Inc()
	}
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
		m.duration.WithLabelValues(m.labels(source)...).Observe(took.Seconds())
	}
	m.counter(kind).WithLabelValues(source, state).Inc()
	m.retries.WithLabelValues(m.labels(source)...).Add(float64(res.Retries))
	for by, n := range res.DeletedBy {
		m.deleted.WithLabelValues(m.labels(source, by)...).Add(float64(n))
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

// dbCollector reports what the database knows, whichever replica wrote it: live and running jobs by
// source (by status too with detail), the freshness of each source and its deletion queue. The
// figures are read at most every metricsCacheTTL, however often /metrics is scraped, from tables
// that hold a few rows a source (store.SourceFigures). When a read fails or takes longer than
// scrapeTimeout, the last figures read are reported again, with vizjob_database_up 0 and their age
// in vizjob_database_figures_age_seconds: a figure is stale, never silently absent.
type dbCollector struct {
	log     *slog.Logger
	sources []string
	detail  bool
	cache   ttlcache.Value[dbFigures]

	mu   sync.Mutex
	last dbFigures // the last figures read without error (zero read time: none yet)

	jobs, live, running, lastSuccess, lastListed, lastHead, up, age, pending, pendingAge *prometheus.Desc
}

// dbFigures is one read of the database for /metrics; ok is false if a query failed.
type dbFigures struct {
	figures []store.SourceFigures
	counts  []store.JobCount
	pending []store.PendingCandidates
	read    time.Time
	ok      bool
}

func newDBCollector(st *store.Store, sources []string, detail bool, log *slog.Logger) *dbCollector {
	c := &dbCollector{
		log:     log,
		sources: sources,
		detail:  detail,
		jobs: prometheus.NewDesc("vizjob_jobs",
			"With INDEXER_METRICS_DETAIL: live (not deleted) jobs in the mirror by source and status code; status_name is the documented name. The codes outside the documented set are summed in one series, status=\"other\" (the API decides which codes come: they do not each get a series). Running jobs are status=\"8\" (JOBSTAT_RUNNING) only, as modelarts.job_statuses.is_running says.",
			[]string{"source", "status", "status_name"}, nil),
		live: prometheus.NewDesc("vizjob_live_jobs",
			"Live (not deleted) jobs in the mirror by source (modelarts.source_job_counts).",
			[]string{"source"}, nil),
		running: prometheus.NewDesc("vizjob_running_jobs",
			"Of those, jobs in a running status (modelarts.job_statuses.is_running: JOBSTAT_RUNNING).",
			[]string{"source"}, nil),
		lastSuccess: prometheus.NewDesc("vizjob_last_success_timestamp_seconds",
			"When the last succeeded run (full or head) of the source finished (any replica's), as a Unix time; 0: never.",
			[]string{"source"}, nil),
		lastListed: prometheus.NewDesc("vizjob_last_listed_timestamp_seconds",
			"When the last run that listed every page of the source finished, proven complete or not (sync_health.last_listed_at), as a Unix time; 0: never. How old what the mirror shows is.",
			[]string{"source"}, nil),
		lastHead: prometheus.NewDesc("vizjob_last_head_walk_timestamp_seconds",
			"When the last head walk of the source that did not fail finished, as a Unix time; 0: never.",
			[]string{"source"}, nil),
		pending: prometheus.NewDesc("vizjob_deletion_candidates",
			"Jobs missing from the last walk of the source that still wait for the service's word on them (modelarts.deletion_candidates).",
			[]string{"source"}, nil),
		pendingAge: prometheus.NewDesc("vizjob_deletion_candidate_oldest_age_seconds",
			"How long the oldest deletion candidate of the source has been waiting; 0 when none waits.",
			[]string{"source"}, nil),
		up: prometheus.NewDesc("vizjob_database_up",
			"1 if the database figures (vizjob_live_jobs, the timestamps, the deletion queue) were read at the last attempt, at most 5 s ago; 0 if that read failed or took longer than 5 s, and the figures shown are older (vizjob_database_figures_age_seconds).",
			nil, nil),
		age: prometheus.NewDesc("vizjob_database_figures_age_seconds",
			"How old the database figures shown are: the time since they were last read without error (a large value while vizjob_database_up is 0; -1: never read).",
			nil, nil),
	}
	c.cache = ttlcache.Value[dbFigures]{TTL: metricsCacheTTL, Load: func(ctx context.Context) (dbFigures, error) {
		ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		defer cancel()
		f := dbFigures{ok: true, read: time.Now()}
		var err error
		if f.figures, err = st.SourceFigures(ctx, sources); err != nil {
			c.log.Warn("metrics: cannot read the sources' figures", "error", err)
			f.ok = false
		}
		if detail {
			if f.counts, err = st.CountJobs(ctx, sources); err != nil {
				c.log.Warn("metrics: cannot count jobs", "error", err)
				f.ok = false
			}
		}
		if f.pending, err = st.PendingCandidates(ctx, sources); err != nil {
			c.log.Warn("metrics: cannot read the deletion candidates", "error", err)
			f.ok = false
		}
		return f, nil
	}}
	return c
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobs, c.live, c.running, c.lastSuccess, c.lastListed, c.lastHead,
		c.up, c.age, c.pending, c.pendingAge} {
		ch <- d
	}
}

// figures are the figures to report: those just read if the read succeeded, else the last good ones.
func (c *dbCollector) figures() (f dbFigures, up bool) {
	f, _ = c.cache.Get(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.ok {
		if f.read.After(c.last.read) {
			c.last = f
		}
		return f, true
	}
	return c.last, false
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	f, ok := c.figures()
	up, age := 0.0, -1.0
	if ok {
		up = 1
	}
	if !f.read.IsZero() {
		age = max(time.Since(f.read).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
	if f.read.IsZero() {
		return // never read: nothing to report but that
	}
	unix := func(t time.Time) float64 { // whole seconds: shorter lines, and as precise as alerts need
		if t.IsZero() {
			return 0
		}
		return float64(t.Unix())
	}
	for _, s := range f.figures {
		ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(s.LiveJobs), s.Source)
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(s.RunningJobs), s.Source)
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unix(s.LastSuccessAt), s.Source)
		ch <- prometheus.MustNewConstMetric(c.lastListed, prometheus.GaugeValue, unix(s.LastListedAt), s.Source)
		ch <- prometheus.MustNewConstMetric(c.lastHead, prometheus.GaugeValue, unix(s.LastHeadWalkAt), s.Source)
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
	now := time.Now()
	for _, src := range c.sources {
		var n, age float64
		for _, p := range f.pending {
			if p.Source == src {
				n, age = float64(p.Count), max(now.Sub(p.Oldest).Round(time.Second).Seconds(), 0)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, n, src)
		ch <- prometheus.MustNewConstMetric(c.pendingAge, prometheus.GaugeValue, age, src)
	}
}
