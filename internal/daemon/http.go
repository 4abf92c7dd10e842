package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds the database checks of one /readyz.
const readyTimeout = 3 * time.Second

// Handler serves the daemon's endpoints:
//
//	/healthz  200 while the process is alive
//	/readyz   200 when the database answers and its schema is current; 503 otherwise, and once
//	          shutdown has begun
//	/metrics  Prometheus text format
//	/         Options.Index, or a plain-text list of these endpoints
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("/readyz", d.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{d.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	if d.opts.Index != nil {
		mux.Handle("/", d.opts.Index)
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			text(w, http.StatusOK, "vizjob indexer\n\n"+
				"/healthz  liveness: 200 while the process runs\n"+
				"/readyz   readiness: 200 when the database answers and its schema is current, else 503\n"+
				"/metrics  Prometheus metrics")
		})
	}
	return mux
}

func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	if d.isStopping() {
		text(w, http.StatusServiceUnavailable, "not ready: shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := d.store.Ping(ctx); err != nil {
		d.log.Debug("not ready: database unreachable", "error", err)
		text(w, http.StatusServiceUnavailable, "not ready: database unreachable: "+err.Error())
		return
	}
	pending, err := d.store.MigrationsPending(ctx)
	if err != nil {
		d.log.Debug("not ready: cannot read the migration status", "error", err)
		text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if pending {
		text(w, http.StatusServiceUnavailable, "not ready: migrations pending (indexer migrate up)")
		return
	}
	text(w, http.StatusOK, "ready")
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, body)
}

// promLogger passes promhttp's errors (a collector failing) to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// cronLogger passes the scheduler's messages to slog: its chatter at debug, its errors (a recovered
// panic) at error.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.log.Debug("scheduler: "+msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("scheduler: "+msg, append(keysAndValues, "error", err)...)
}
