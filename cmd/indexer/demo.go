package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/daemon"
	"github.com/vizjob/indexer/internal/demodb"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
)

func runDemo(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "demo", "demo [flags]\n\n"+
		"The built-in ModelArts simulator (with light churn: jobs appear, change status and vanish), the\n"+
		"migrations and the daemon, in one process, against the configured database ("+config.EnvDatabaseURL+").\n"+
		"With no database configured (no "+config.EnvDatabaseURL+", "+config.EnvDatabaseURLAlt+", --database-url or PGDATABASE), it uses\n"+
		"the database "+demodb.DefaultDatabase+" of a local server (found as psql finds one, else on 127.0.0.1:5432 as you or\n"+
		"postgres), creating it if the role may; else a private throwaway server started from this machine's\n"+
		"PostgreSQL binaries (initdb in a temporary directory, a Unix socket only, removed on exit); else a\n"+
		"postgres container, where Docker runs. It says which, and how to query it.\n"+
		"It syncs the simulator at start and then on --schedule, and prints queries to try. Ctrl-C stops it.")
	cf := addConfigFlags(fs, false)
	httpAddr := fs.String("http-addr", "", "listen address of the status page (/) and of /healthz, /readyz and /metrics (env "+config.EnvHTTPAddr+"; default "+config.DefaultHTTPAddr+")")
	simAddr := fs.String("sim-addr", "127.0.0.1:0", "listen address of the simulator; port 0: a free one")
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
	log := configLogger(e.stderr, cfg)
	cf.warn(log)

	db := demoDatabase{psql: configuredPsql(cfg, e.getenv)}
	if cfg.DatabaseURLOrigin() == "" && e.getenv("PGDATABASE") == "" {
		srv, err := demodb.Find(ctx, demodb.Options{Logger: log})
		if err != nil {
			fmt.Fprintf(e.stderr, "indexer demo: %v\n", err)
			fmt.Fprintln(e.stderr, "hint: install PostgreSQL (its server binaries, e.g. apt-get install postgresql) or start Docker; "+
				"or set "+config.EnvDatabaseURL+" to a database the demo may write to")
			return exitFailed
		}
		defer func() {
			if err := srv.Close(); err != nil {
				log.Warn("cannot remove the demo's server", "error", err)
			}
		}()
		cfg.DatabaseURL = srv.URL
		db = demoDatabase{where: srv.Where, psql: srv.Psql}
	}

	sim, resumed, err := demoSimulator(ctx, cfg, log, *name, *jobs, *churn)
	if err != nil {
		log.Error("cannot start the simulator", "error", err)
		return exitFailed
	}
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
	if resumed > 0 {
		*jobs = resumed
	}
	printGuide(e.stdout, cfg, db, *name, simURL, *jobs, resumed > 0, *churn, ln.Addr())
	return serve(ctx, cfg, log, daemon.Options{Logger: log, Migrate: true, Listener: ln})
}

// demoSimulator starts the simulator from what the database already holds of
// the demo's source, if anything: a restart then continues the recorded
// history (statuses move on from where they were) instead of serving the
// seed's jobs again, which would move statuses backwards. It returns how many
// jobs were resumed (0: generated ones).
func demoSimulator(ctx context.Context, cfg *config.Config, log *slog.Logger, source string, jobs int, churn float64) (*simulator.Simulator, int, error) {
	opts := simulator.Options{Jobs: jobs, Seed: 1, Churn: churn, Logger: log.With("component", "simulator")}
	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, 0, fmt.Errorf("open the database: %w", err)
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		return nil, 0, fmt.Errorf("migrate: %w", err)
	}
	snap, err := st.Snapshot(ctx, source)
	if err != nil {
		return nil, 0, err
	}
	if len(snap.Live) == 0 {
		if snap.Jobs > 0 {
			log.Warn("every job of the demo source is marked deleted; generating new jobs (use --source to start a fresh source)",
				"source", source)
		}
		return simulator.New(opts), 0, nil
	}
	opts.Seed = snap.MaxJobID // another sequence of changes than the last start's
	sim, err := simulator.NewResumed(opts, simulator.Resume{Items: snap.Live, MaxJobID: snap.MaxJobID})
	if err != nil {
		return nil, 0, err
	}
	log.Info("simulator resumed from the database", "source", source, "jobs", len(snap.Live), "max_job_id", snap.MaxJobID)
	return sim, len(snap.Live), nil
}

// demoDatabase is the database the demo runs against, for the guide.
type demoDatabase struct {
	where string // "" for the configured one
	psql  string // the command that queries it
}

// configuredPsql is the psql command line for the configured database, without its password.
func configuredPsql(cfg *config.Config, getenv func(string) string) string {
	switch {
	case cfg.DatabaseURL == "":
		return "psql" // libpq defaults and PG* variables: psql reads the same.
	case hasPassword(cfg.DatabaseURL) && getenv(config.EnvDatabaseURL) != "":
		return `psql "$` + config.EnvDatabaseURL + `"`
	case hasPassword(cfg.DatabaseURL):
		return `psql "<your database URL>"`
	default:
		return fmt.Sprintf("psql %q", cfg.DatabaseURL)
	}
}

// printGuide says where to look while the demo runs.
func printGuide(w io.Writer, cfg *config.Config, db demoDatabase, source, simURL string, jobs int, resumed bool, churn float64,
	httpAddr net.Addr) {
	host, port, _ := net.SplitHostPort(httpAddr.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	web := "http://" + net.JoinHostPort(host, port)
	psql := db.psql
	database := cmp.Or(db.where, "the configured one ("+cfg.DatabaseURLOrigin()+")")
	if cfg.DatabaseURLOrigin() == "" && db.where == "" {
		database = "the configured one (PG* variables)"
	}
	from := "generated"
	if resumed {
		from = "resumed from the database"
	}
	fmt.Fprintf(w, `vizjob indexer demo
  database   %s
  simulator  %s: %d jobs %s, churn %g (jobs appear, change status and vanish as they are listed)
  daemon     syncs source %q now, then on %q
  http       %s/  (%s/healthz, %s/readyz, %s/metrics)

Try, while it runs:
  %s -c "SELECT id, state, started_at, finished_at - started_at AS took, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted, error
        FROM modelarts.sync_runs WHERE source = '%s' ORDER BY id DESC LIMIT 5"
  %s -c "SELECT status_name, count(*) FROM modelarts.jobs_current
        WHERE source = '%s' AND NOT is_deleted GROUP BY 1 ORDER BY 2 DESC"
  %s -c "SELECT job_id, status, valid_from, valid_to FROM modelarts.visualization_job_history
        WHERE source = '%s' ORDER BY valid_from DESC LIMIT 10"
  curl -s %s/metrics | grep ^vizjob_

Ctrl-C stops it (a run in flight gets %s to finish).
`, database, simURL, jobs, from, churn, source, cfg.Sources[0].Schedule, web, web, web, web,
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
