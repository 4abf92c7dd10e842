package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vizjob/indexer/internal/config"
)

// readyTimeout bounds the database checks of one /readyz.
const readyTimeout = 3 * time.Second

// How often the database is read for HTTP at most: /readyz's checks and the database figures of
// /metrics are reused for these periods, whatever the number of requests.
const (
	readyCacheTTL   = 2 * time.Second
	metricsCacheTTL = 5 * time.Second
)

// Timeouts of the HTTP server: a client that sends its request slowly, reads the answer slowly or
// keeps an idle connection open is cut off.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
)

// newServer is the HTTP server of the daemon, with timeouts on every phase of a connection.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
	}
}

// Handler serves the daemon's endpoints:
//
//	/healthz  200 while the process is alive
//	/readyz   200 when the database answers and its schema is current; 503 otherwise, and once
//	          shutdown has begun. The answer says no more: the reason is logged.
//	/metrics  Prometheus text format
//	/         Options.Index, or a plain-text list of these endpoints
//
// With Config.HTTPToken set, / and /metrics require "Authorization: Bearer TOKEN"; /healthz and
// /readyz stay open for orchestrators' probes.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("/readyz", d.readyz)
	mux.Handle("/metrics", d.authorized(promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{d.log},
		ErrorHandling: promhttp.ContinueOnError,
	})))
	if d.opts.Index != nil {
		mux.Handle("/", d.authorized(d.opts.Index))
	} else {
		mux.Handle("GET /{$}", d.authorized(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			text(w, http.StatusOK, "vizjob indexer\n\n"+
				"/healthz  liveness: 200 while the process runs\n"+
				"/readyz   readiness: 200 when the database answers and its schema is current, else 503\n"+
				"/metrics  Prometheus metrics")
		})))
	}
	return mux
}

// exposureWarning is what to warn of when the daemon listens at addr with token: beyond loopback
// (all interfaces, or an address other hosts may reach) without a token, anyone who reaches the
// port reads the status page (job names, errors) and /metrics. Empty when there is nothing to say.
func exposureWarning(addr net.Addr, token string) string {
	if token != "" {
		return ""
	}
	if a, ok := addr.(*net.TCPAddr); !ok || a.IP.IsLoopback() {
		return ""
	}
	return "http: listening beyond loopback without a token: anyone who reaches this port reads the status page " +
		"and /metrics; set " + config.EnvHTTPToken + " (then / and /metrics require it), or listen on 127.0.0.1 (" +
		config.EnvHTTPAddr + ")"
}

// authorized requires the bearer token of Config.HTTPToken, if set, compared in constant time.
func (d *Daemon) authorized(next http.Handler) http.Handler {
	if d.cfg.HTTPToken == "" {
		return next
	}
	want := sha256.Sum256([]byte(d.cfg.HTTPToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vizjob-indexer"`)
			text(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <token> ("+config.EnvHTTPToken+")")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	if d.isStopping() {
		text(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	if _, err := d.ready.Get(r.Context()); err != nil {
		text(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	text(w, http.StatusOK, "ready")
}

// checkReady reads whether the database answers and its schema is current; why not is logged, never
// served (it names the database's host, name and user).
func (d *Daemon) checkReady(ctx context.Context) (struct{}, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := d.store.Ping(ctx); err != nil {
		d.log.Debug("not ready: database unreachable", "error", err)
		return struct{}{}, err
	}
	pending, err := d.store.MigrationsPending(ctx)
	if err != nil {
		d.log.Debug("not ready: cannot read the migration status", "error", err)
		return struct{}{}, err
	}
	if pending {
		d.log.Debug("not ready: migrations pending (indexer migrate up)")
		return struct{}{}, errors.New("migrations pending")
	}
	if err := d.queuePending(ctx); err != nil {
		d.log.Debug("not ready", "error", err)
		return struct{}{}, err
	}
	return struct{}{}, nil
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
