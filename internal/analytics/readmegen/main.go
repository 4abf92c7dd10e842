// Command readmegen builds the demo data of the documented questions (docs/questions.md and the
// README's summary of them) and of the status page, with the real code: the data set of the quick start's
// `indexer demo` (source "demo": the built-in simulator with seed 1 and 500 jobs), synced by the syncer
// every 6 simulated hours over the 8 days before today's midnight (UTC), with jobs created, started,
// finished, failed, renamed and deleted between syncs, and one run failing on a revoked key. The syncs'
// clock is that fixed grid, so the history is the same on every run of the same day; history timestamps
// are the simulated sync times, the runs themselves (sync_runs) happen in the seconds the demo takes.
//
// Then it runs every documented query and prints the answers, or writes them into the generated
// sections, and can serve the status page:
//
//	createdb vizjob_demo
//	go run ./internal/analytics/readmegen -database-url postgres://postgres@127.0.0.1:5432/vizjob_demo?sslmode=disable \
//	    [-readme README.md -questions docs/questions.md] [-serve 127.0.0.1:8099]
//
// The database must be empty (or hold only the schema): the demo refuses to touch one that has runs.
// Queries run with TimeZone UTC. Dates move with the day the demo runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vizjob/indexer/internal/analytics"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/statuspage"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dbURL := fs.String("database-url", os.Getenv("INDEXER_DATABASE_URL"), "URL of an empty PostgreSQL database (default $INDEXER_DATABASE_URL)")
	readme := fs.String("readme", "", "write the summary of the questions into this README's generated section (with -questions)")
	questions := fs.String("questions", "", "write the questions and their answers into this file's generated section, e.g. docs/questions.md (default: print them)")
	serve := fs.String("serve", "", "then serve the status page on this address, e.g. 127.0.0.1:8099, until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("-database-url is required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	st, err := store.Open(ctx, withUTC(*dbURL), log)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		return err
	}
	t, err := st.QueryTable(ctx, "SELECT count(*) FROM modelarts.sync_runs")
	if err != nil {
		return err
	}
	if t.Rows[0][0] != "0" {
		return errors.New("the database already holds sync runs: give the demo an empty database")
	}

	started := time.Now().UTC()
	if err := generate(ctx, st, log, started); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "demo data ready in %s\n", time.Since(started).Round(time.Millisecond))

	answers := analytics.Answers{Generated: fmt.Sprintf("generated %s by `go run ./internal/analytics/readmegen` "+
		"(source demo: the simulator of `indexer demo`, seed 1 and 500 jobs, synced every 6 simulated hours over the 8 days "+
		"before today's midnight, one run failing on a revoked key), with TimeZone UTC.", started.Format("2006-01-02 15:04 MST"))}
	for _, q := range analytics.Queries() {
		t, err := st.QueryTable(ctx, q.SQL)
		if err != nil {
			return fmt.Errorf("query %s: %w", q.Name, err)
		}
		if len(t.Rows) == 0 {
			return fmt.Errorf("query %s has no answer on the demo data", q.Name)
		}
		answers.Tables = append(answers.Tables, analytics.FormatTable(t.Columns, t.Rows, t.Numeric))
	}
	section := analytics.Section(analytics.Queries(), answers)
	if *questions == "" {
		fmt.Print(section)
	} else {
		if err := rewrite(*questions, section, analytics.ReplaceSection); err != nil {
			return err
		}
		if *readme != "" {
			if err := rewrite(*readme, analytics.Summary(analytics.Queries(), answers), analytics.ReplaceSummary); err != nil {
				return err
			}
		}
	}

	if *serve == "" {
		return nil
	}
	srv := &http.Server{Addr: *serve, Handler: statuspage.New(st, log), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "status page on http://%s/ (Ctrl-C to stop)\n", *serve)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withUTC makes the session's TimeZone UTC, unless the URL sets one.
func withUTC(dbURL string) string {
	if strings.Contains(strings.ToLower(dbURL), "timezone") {
		return dbURL
	}
	if u, err := url.Parse(dbURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("timezone", "UTC")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dbURL + " timezone=UTC"
}

func rewrite(path, section string, replace func(text, section string) (string, error)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replace(string(b), section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// source is one simulated ModelArts project and the client that syncs it.
type source struct {
	name   string
	sim    *simulator.Simulator
	client *fetch.Client
	bad    *fetch.Client // same endpoint, wrong secret key
}

const step = 6 * time.Hour

// generate builds the history of source demo.
func generate(ctx context.Context, st *store.Store, log *slog.Logger, now time.Time) error {
	end := now.Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -8)
	demo, err := newSource(ctx, "demo", 1, 500, start, log)
	if err != nil {
		return err
	}
	var times []time.Time
	for t := start; !t.After(end); t = t.Add(step) {
		times = append(times, t)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var timeline int64
	for k, at := range times {
		if k > 0 {
			timeline = advanceTimeline(demo.sim, k, at, timeline)
			mutate(demo.sim, rng, at, 3, timeline)
		}
		client := demo.client
		if k == len(times)-6 { // a run with a revoked key: it fails, the next one catches up
			client = demo.bad
		}
		if err := syncOnce(ctx, st, demo.name, client, at, log); err != nil && client != demo.bad {
			return err
		}
	}
	return nil
}

func syncOnce(ctx context.Context, st *store.Store, name string, c *fetch.Client, at time.Time, log *slog.Logger) error {
	_, err := syncer.Sync(ctx, c, st, syncer.Options{
		Source: name, MaxDeleteShare: 0.5, MaxDeleteMin: 10,
		Now: func() time.Time { return at }, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("sync %s at %s: %w", name, at.Format(time.RFC3339), err)
	}
	return nil
}

func newSource(ctx context.Context, name string, seed int64, jobs int, epoch time.Time, log *slog.Logger) (*source, error) {
	sim := simulator.New(simulator.Options{Jobs: jobs, Seed: seed, Epoch: epoch})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	endpoint := "http://" + ln.Addr().String()
	client, err := fetch.New(fetch.Config{Endpoint: endpoint, ProjectID: simulator.DefaultProjectID,
		AK: simulator.DefaultAK, SK: simulator.DefaultSK, Logger: log})
	if err != nil {
		return nil, err
	}
	bad, err := fetch.New(fetch.Config{Endpoint: endpoint, ProjectID: simulator.DefaultProjectID,
		AK: simulator.DefaultAK, SK: "revoked-secret-key", Logger: log})
	if err != nil {
		return nil, err
	}
	return &source{name: name, sim: sim, client: client, bad: bad}, nil
}

// advanceTimeline walks one job through a life that question 04 shows: created,
// waiting, running, renamed, completed.
func advanceTimeline(sim *simulator.Simulator, k int, at time.Time, id int64) int64 {
	switch k {
	case 1:
		j := sim.CreateJob()
		sim.UpdateJob(j.ID, func(s *simulator.JobState) {
			s.Name = "nightly-bert-base"
			s.Desc = "nightly fine-tuning, TensorBoard of the loss curves"
			s.CreateTime = at.Add(-95 * time.Minute).UnixMilli()
			s.TrainURL = "/ml-team-logs/experiments/nightly-bert-base/"
		})
		return j.ID
	case 2:
		sim.SetStatus(id, 7, 0) // JOBSTAT_WAITING
	case 4:
		sim.SetStatus(id, 8, 40*time.Minute) // JOBSTAT_RUNNING
	case 5, 6, 8, 9:
		sim.SetStatus(id, 8, step)
	case 7:
		sim.UpdateJob(id, func(s *simulator.JobState) { s.Name = "nightly-bert-base-v2"; s.Duration += step.Milliseconds() })
	case 10:
		sim.SetStatus(id, 10, 3*time.Hour) // JOBSTAT_COMPLETED
	}
	return id
}

// mutate is what happens to a project in one step: up to maxNew jobs created, jobs moving on through
// their lives, now and then a rename or a deletion. skip is left alone.
func mutate(sim *simulator.Simulator, rng *rand.Rand, at time.Time, maxNew int, skip int64) {
	for range rng.IntN(maxNew + 1) {
		j := sim.CreateJob()
		created := at.Add(-time.Duration(rng.Int64N(int64(step))))
		sim.UpdateJob(j.ID, func(s *simulator.JobState) { s.CreateTime = created.UnixMilli() })
	}
	var finished []int64
	for _, j := range sim.Jobs() {
		if j.ID == skip {
			continue
		}
		part := time.Duration(rng.Int64N(int64(step)))
		switch p := rng.Float64(); j.Status {
		case 1, 2, 4: // initializing, building the image, submitting
			if p < 0.7 {
				sim.SetStatus(j.ID, 7, 0)
			}
		case 7, 18, 19, 20: // waiting, pre-run checks
			if p < 0.5 {
				sim.SetStatus(j.ID, 8, part)
			}
		case 8:
			switch {
			case p < 0.10:
				sim.SetStatus(j.ID, 10, part)
			case p < 0.12:
				sim.SetStatus(j.ID, 11, part)
			case p < 0.14:
				sim.SetStatus(j.ID, 12, part)
			default:
				sim.SetStatus(j.ID, 8, step)
			}
		case 9: // being stopped
			if p < 0.6 {
				sim.SetStatus(j.ID, 12, 0)
			}
		case 15: // scaling
			if p < 0.6 {
				sim.SetStatus(j.ID, 8, part)
			}
		case 3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 21, 22:
			finished = append(finished, j.ID)
		}
	}
	if len(finished) > 0 && rng.IntN(4) == 0 {
		sim.DeleteJob(finished[rng.IntN(len(finished))])
	}
	if rng.IntN(8) == 0 {
		jobs := sim.Jobs()
		j := jobs[rng.IntN(len(jobs))]
		if j.ID != skip && !strings.HasSuffix(j.Name, "-renamed") {
			sim.UpdateJob(j.ID, func(s *simulator.JobState) { s.Name += "-renamed" })
		}
	}
}
