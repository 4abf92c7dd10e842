package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/vizjob/indexer/internal/simulator"
)

func runSimulate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "simulate", "simulate [flags]\n\n"+
		"Serves a faithful fake of the ModelArts list API and of IAM's token API, with generated jobs.\n"+
		"Its credentials are not secrets: they are flags with documented defaults.")
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	jobs := fs.Int("jobs", 1000, "number of jobs to generate")
	seed := fs.Int64("seed", 1, "seed of the generated jobs (same seed, same jobs)")
	project := fs.String("project-id", simulator.DefaultProjectID, "project id the simulator serves")
	ak := fs.String("ak", simulator.DefaultAK, "access key accepted for AK/SK signing")
	sk := fs.String("sk", simulator.DefaultSK, "secret key accepted for AK/SK signing")
	user := fs.String("username", simulator.DefaultUsername, "IAM user accepted by POST /v3/auth/tokens")
	password := fs.String("password", simulator.DefaultPassword, "IAM password accepted by POST /v3/auth/tokens")
	domain := fs.String("domain", simulator.DefaultDomainName, "IAM account (domain) name")
	maxPerPage := fs.Int("max-per-page", 100, "largest per_page accepted (the SDK reference says 100, newer REST pages 1000)")
	churn := fs.Float64("churn", 0, "mean number of random mutations (create, delete, status change) after each list request,\n"+
		"e.g. 0.7: the integer part always, the fraction with that probability; deterministic by --seed.\n"+
		"POST /_sim/churn?rate=R changes it while serving, GET /_sim/state lists the current job ids,\n"+
		"POST /_sim/mutate?share=F&seed=S changes that share of the jobs at once")
	faultSpec := fs.String("faults", "", "gateway faults to inject, deterministically: comma-separated key=value, e.g.\n"+
		"throttle-every=3,retry-after=2s,retry-after-date,server-error-every=5,truncate-every=7,slow-every=11,slow-delay=40s,\n"+
		"reset-every=13,wrong-content-type-every=17,html-page-every=19,expire-tokens-after=23,\n"+
		"bad-items=wrong_type+id_type+missing_id+negative_duration+huge_desc+not_object,bad-item-every=50,\n"+
		"duplicate-across-pages,lie-total-by=7 (see internal/simulator/faults.go).\n"+
		"POST /_sim/faults?spec=SPEC changes them while serving (an empty spec switches them off)")
	latency := fs.Duration("latency", 0, "delay every answer of the list and detail calls by this much (requests wait concurrently),\n"+
		"as a distant server would")
	dialectSpec := fs.String("dialect", "", "how to answer what the API documentation leaves open, comma-separated key=value:\n"+
		"not-found=404|400|unpublished|html404 (the detail call's answer for a missing job; default 404 ModelArts.0105),\n"+
		"search=name|name_desc|exact|ignored|nothing (how search_content matches; default name: substring of the name),\n"+
		"status-filter=honoured|ignored (whether the status parameter filters; default honoured),\n"+
		"create-skew=DURATION (new jobs get a create_time up to that much older than the newest job's; default 0),\n"+
		"pages=documented|clamp|ignore|error400|error404|zero-based (how page is read and what a page past the last\n"+
		"answers: empty; the last page again; every page is the first; 400 ModelArts.0104; 404; pages count from 0),\n"+
		"per-page-cap=N (serve at most N jobs a page whatever per_page asks, without an error; default 0: none)")
	epoch := fs.String("epoch", "", "generated jobs are created over the year before this instant (RFC 3339, e.g. 2026-11-01T00:00:00Z);\n"+
		"default: when the simulator starts. Simulators of one seed and one epoch hold the same jobs")
	quota := fs.Float64("quota", 0, "requests per second each credential may make to the list and detail calls (a token bucket\n"+
		"holding one second of them); beyond it the answer is 429 APIG.0308 with Retry-After. 0: no quota")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFmt := fs.String("log-format", "auto", "auto, text or json")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	faults, err := simulator.ParseFaults(*faultSpec)
	if err != nil {
		fmt.Fprintf(e.stderr, "indexer simulate: --faults: %v\n", err)
		return exitUsage
	}
	dialect, err := simulator.ParseDialect(*dialectSpec)
	if err != nil {
		fmt.Fprintf(e.stderr, "indexer simulate: --dialect: %v\n", err)
		return exitUsage
	}
	if *jobs < 0 || *maxPerPage < 1 || *latency < 0 || !(*quota >= 0) || math.IsInf(*quota, 1) {
		fmt.Fprintln(e.stderr, "indexer simulate: --jobs, --latency and --quota must be >= 0 and --max-per-page >= 1")
		return exitUsage
	}
	if !(*churn >= 0) || math.IsInf(*churn, 1) {
		fmt.Fprintln(e.stderr, "indexer simulate: --churn must be a number >= 0")
		return exitUsage
	}
	var at time.Time
	if *epoch != "" {
		if at, err = time.Parse(time.RFC3339, *epoch); err != nil {
			fmt.Fprintf(e.stderr, "indexer simulate: --epoch: %v\n", err)
			return exitUsage
		}
	}
	log := newLogger(e.stderr, *logLevel, *logFmt)
	sim := simulator.New(simulator.Options{
		Jobs: *jobs, Seed: *seed, ProjectID: *project, AK: *ak, SK: *sk,
		Username: *user, Password: *password, DomainName: *domain, MaxPerPage: *maxPerPage, Logger: log,
		Churn: *churn, Faults: faults, Latency: *latency, Dialect: dialect, Quota: simulator.Quota{Rate: *quota}, Epoch: at,
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "addr", *addr, "error", err)
		return exitFailed
	}
	base := "http://" + ln.Addr().String()
	log.Info("simulator serving", "addr", ln.Addr().String(), "jobs", *jobs, "seed", *seed, "churn", *churn, "dialect", dialect.String())
	fmt.Fprintf(e.stdout, "ModelArts simulator on %s with %d jobs. Point the indexer at it with:\n"+
		"  export MODELARTS_ENDPOINT=%s HUAWEICLOUD_SDK_PROJECT_ID=%s\n"+
		"  export HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s\n"+
		"or, for IAM token authentication instead of AK/SK:\n"+
		"  export HUAWEICLOUD_IAM_ENDPOINT=%s HUAWEICLOUD_USERNAME=%s HUAWEICLOUD_PASSWORD=%s HUAWEICLOUD_DOMAIN_NAME=%s\n",
		base, *jobs, base, *project, *ak, *sk, base, *user, *password, *domain)

	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("simulator stopped", "error", err)
		return exitFailed
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("simulator shutdown", "error", err)
	}
	return exitOK
}
