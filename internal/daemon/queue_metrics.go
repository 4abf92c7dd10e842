package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vizjob/indexer/internal/queue"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/ttlcache"
)

// stateUnknownSource labels the queued runs of a source this replica's configuration does not have.
const stateUnknownSource = "unknown_source"

// queueMetrics are the job queue's series: ticks enqueued and skipped as duplicates (counted where
// they are inserted, on River's leader), how late runs start (on the replica that runs them), and
// the queue's content (read from River's table, the same on every replica).
type queueMetrics struct {
	enqueued   *prometheus.CounterVec   // vizjob_runs_enqueued_total{kind}
	duplicates *prometheus.CounterVec   // vizjob_runs_skipped_duplicate_total{kind}
	late       *prometheus.HistogramVec // vizjob_run_start_late_seconds{kind}
	inFlight   *prometheus.GaugeVec     // vizjob_runs_in_progress{kind}: this replica's
	reg        *prometheus.Registry
	log        *slog.Logger
}

var _ queue.Observer = (*queueMetrics)(nil)

func newQueueMetrics(reg *prometheus.Registry, log *slog.Logger) *queueMetrics {
	m := &queueMetrics{
		reg: reg,
		log: log,
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_runs_enqueued_total",
			Help: "Ticks of a schedule enqueued as a run's job, by kind of run (full, head). Counted by the replica that enqueued them (River's leader).",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vizjob_runs_skipped_duplicate_total",
			Help: "Ticks not enqueued because the previous run of the same source and kind was still queued or running, by kind of run. A tick is either enqueued or counted here.",
		}, []string{"kind"}),
		late: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vizjob_run_start_late_seconds",
			Help:    "How long after its tick a run started (start minus scheduled time), by kind of run, on the replica that ran it.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800},
		}, []string{"kind"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vizjob_runs_in_progress",
			Help: "Runs this replica is running now, by kind of run.",
		}, []string{"kind"}),
	}
	for _, k := range []string{store.KindFull, store.KindHead} {
		m.enqueued.WithLabelValues(k)
		m.duplicates.WithLabelValues(k)
		m.inFlight.WithLabelValues(k)
	}
	reg.MustRegister(m.enqueued, m.duplicates, m.late, m.inFlight)
	return m
}

// Enqueued implements queue.Observer.
func (m *queueMetrics) Enqueued(kind string, duplicate bool) {
	if duplicate {
		m.duplicates.WithLabelValues(kind).Inc()
		return
	}
	m.enqueued.WithLabelValues(kind).Inc()
}

// Started implements queue.Observer.
func (m *queueMetrics) Started(kind string, late time.Duration) {
	m.late.WithLabelValues(kind).Observe(max(late, 0).Seconds())
}

func (m *queueMetrics) running(kind string, delta float64) {
	m.inFlight.WithLabelValues(kind).Add(delta)
}

// watchQueue exports the queue's content, read at most every scrape's cache period.
func (m *metrics) watchQueue(q *queue.Queue) {
	_ = m.reg.Register(&queueCollector{q: q, log: m.queue.log, cache: ttlcache.Value[[]queue.Count]{
		TTL: 5 * time.Second,
		Load: func(ctx context.Context) ([]queue.Count, error) {
			ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
			defer cancel()
			return q.Counts(ctx)
		},
	}})
}

var queueJobsDesc = prometheus.NewDesc("vizjob_queue_runs",
	"Runs' jobs in River's queue (the whole fleet's) by kind of run and River state: available (due, waiting for a worker), scheduled, retryable, pending, running.",
	[]string{"kind", "state"}, nil)

type queueCollector struct {
	q     *queue.Queue
	log   *slog.Logger
	cache ttlcache.Value[[]queue.Count]
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueJobsDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.cache.Get(context.Background())
	if err != nil {
		c.log.Warn("metrics: cannot read the queue", "error", err)
		return
	}
	seen := map[[2]string]bool{}
	for _, cnt := range counts {
		seen[[2]string{cnt.Kind, cnt.State}] = true
		ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(cnt.N), cnt.Kind, cnt.State)
	}
	for _, k := range []string{store.KindFull, store.KindHead} {
		for _, st := range []string{"available", "running"} {
			if !seen[[2]string{k, st}] {
				ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, 0, k, st)
			}
		}
	}
}
