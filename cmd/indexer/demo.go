package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/daemon"
	"github.com/vizjob/indexer/internal/simulator"
)

func runDemo(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "demo", "demo [flags]\n\n"+
		"The built-in ModelArts simulator (with light churn: jobs appear, change status and vanish), the\n"+
		"migrations and the daemon, in one process, against the configured database ("+config.EnvDatabaseURL+").\n"+
		"It syncs the simulator at start and then on --schedule, and prints queries to try. Ctrl-C stops it.")
	cf := addConfigFlags(fs, false)
	httpAddr := fs.String("http-addr", "", "listen address of /healthz, /readyz and /metrics (env "+config.EnvHTTPAddr+"; default "+config.DefaultHTTPAddr+")")
	simAddr := fs.String("sim-addr", "127.0.0.1:0", "listen address of the simulator (default: a free local port)")
	jobs := fs.Int("jobs", 500, "jobs the simulator starts with")
	churn := fs.Float64("churn", 0.1, "mean number of random job changes after each list request (0: none)")
	schedule := fs.String("schedule", "@every 30s", "cron schedule of the syncs")
	name := fs.String("source", "demo", "name of the simulated source in the database")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "indexer demo: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if *jobs < 0 || !(*churn >= 0) {
		fmt.Fprintln(e.stderr, "indexer demo: --jobs and --churn must not be negative")
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	log := newLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	cf.warn(log)

	sim := simulator.New(simulator.Options{Jobs: *jobs, Seed: 1, Churn: *churn,
		Logger: log.With("component", "simulator")})
	simLn, err := net.Listen("tcp", *simAddr)
	if err != nil {
		log.Error("simulator: cannot listen", "addr", *simAddr, "error", err)
		return exitFailed
	}
	simSrv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = simSrv.Serve(simLn) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = simSrv.Shutdown(sctx)
	}()
	simURL := "http://" + simLn.Addr().String()

	cfg.Sources = []config.Source{{
		Name:      *name,
		Endpoint:  simURL,
		ProjectID: simulator.DefaultProjectID,
		AK:        simulator.DefaultAK,
		SK:        simulator.DefaultSK,
		Schedule:  *schedule,
	}}
	cfg.ConfigFile = ""
	cfg.RunAtStart = true
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	if err := cfg.Validate(); err != nil {
		return configError(e, err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.HTTPAddr, "error", err,
			"hint", "another process uses the port: try --http-addr 127.0.0.1:0")
		return exitFailed
	}
	printGuide(e.stdout, cfg, *name, simURL, *jobs, *churn, e.getenv, ln.Addr())
	return serve(ctx, cfg, log, daemon.Options{Logger: log, Migrate: true, Listener: ln})
}

// printGuide says where to look while the demo runs.
func printGuide(w io.Writer, cfg *config.Config, source, simURL string, jobs int, churn float64,
	getenv func(string) string, httpAddr net.Addr) {
	host, port, _ := net.SplitHostPort(httpAddr.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	web := "http://" + net.JoinHostPort(host, port)
	psql := "psql"
	switch {
	case cfg.DatabaseURL == "":
		// libpq defaults and PG* variables: psql reads the same.
	case hasPassword(cfg.DatabaseURL) && getenv(config.EnvDatabaseURL) != "":
		psql = `psql "$` + config.EnvDatabaseURL + `"`
	case hasPassword(cfg.DatabaseURL):
		psql = `psql "<your database URL>"`
	default:
		psql = fmt.Sprintf("psql %q", cfg.DatabaseURL)
	}
	fmt.Fprintf(w, `vizjob indexer demo
  simulator  %s: %d jobs, churn %g (jobs appear, change status and vanish as they are listed)
  daemon     syncs source %q now, then on %q
  http       %s/  (%s/healthz, %s/readyz, %s/metrics)

Try, while it runs:
  %s -c "SELECT id, state, started_at, finished_at - started_at AS took, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted, error
        FROM modelarts.sync_runs WHERE source = '%s' ORDER BY id DESC LIMIT 5"
  %s -c "SELECT s.name AS status, count(*) FROM modelarts.visualization_jobs j
        LEFT JOIN modelarts.job_statuses s ON s.code = j.status
        WHERE j.source = '%s' AND j.deleted_at IS NULL GROUP BY 1 ORDER BY 2 DESC"
  %s -c "SELECT job_id, status, valid_from, valid_to FROM modelarts.visualization_job_history
        WHERE source = '%s' ORDER BY valid_from DESC LIMIT 10"
  curl -s %s/metrics | grep ^vizjob_

Ctrl-C stops it (a run in flight gets %s to finish).
`, simURL, jobs, churn, source, cfg.Sources[0].Schedule, web, web, web, web,
		psql, source, psql, source, psql, source, web, cfg.ShutdownGrace)
}

// hasPassword says whether a database URL (or keyword/value string) holds a password.
func hasPassword(databaseURL string) bool {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" {
		return strings.Contains(databaseURL, "password")
	}
	_, ok := u.User.Password()
	return ok || u.Query().Has("password")
}
