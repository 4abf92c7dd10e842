package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/dsn"
)

// configFlags are the flags that override the environment. Secrets have no
// flags on purpose: a command line is visible to every user of the machine
// (ps, /proc); use the variables or their *_FILE forms.
type configFlags struct {
	fs       *flag.FlagSet
	database *string
	logLevel *string
	logFmt   *string
	source   *sourceFlags
	daemon   *daemonFlags // indexer run: see run.go

	passwordInFlag bool // --database-url carries a password (see warn)
}

type sourceFlags struct {
	endpoint, region, projectID, name, iam *string
	perPage, maxPerPage                    *int
	maxWalks, maxDeleteMin, maxAttempts    *int
	maxDeleteShare                         *float64
	timeout, seenRefresh                   *time.Duration
	rateLimit                              *float64       // client-side rate limit
	maxRateLimit                           *float64       // ceiling of the adaptive rate
	runTimeout                             *time.Duration // deadline of one run
	pageConcurrency                        *int           // pages of a walk requested at the same time
	allowInsecureHTTP                      *bool          // http:// endpoints off loopback
}

func addConfigFlags(fs *flag.FlagSet, withSource bool) *configFlags {
	f := &configFlags{
		fs:       fs,
		database: fs.String("database-url", "", "PostgreSQL URL (env "+config.EnvDatabaseURL+", else "+config.EnvDatabaseURLAlt+", else libpq PG* defaults)"),
		logLevel: fs.String("log-level", "", "debug, info, warn or error (env "+config.EnvLogLevel+"; default info)"),
		logFmt:   fs.String("log-format", "", "auto, text or json (env "+config.EnvLogFormat+"; default auto: text on a terminal)"),
	}
	if withSource {
		f.source = &sourceFlags{
			endpoint:       fs.String("endpoint", "", "ModelArts base URL (env "+config.EnvEndpoint+")"),
			region:         fs.String("region", "", "region, e.g. cn-north-4 (env "+config.EnvRegion+")"),
			projectID:      fs.String("project-id", "", "project id (env "+config.EnvProjectID+")"),
			name:           fs.String("source", "", "source name in the database (env "+config.EnvSource+"; default the project id)"),
			iam:            fs.String("iam-endpoint", "", "IAM base URL (env "+config.EnvIAMEndpoint+")"),
			perPage:        fs.Int("per-page", 0, "page size of a walk (env "+config.EnvPerPage+"; default 100)"),
			maxPerPage:     fs.Int("max-per-page", 0, "largest per_page the endpoint accepts (env "+config.EnvMaxPerPage+"; default 100)"),
			maxWalks:       fs.Int("max-walks", 0, "walks per run before it ends partial (env "+config.EnvMaxWalks+"; default 3)"),
			maxDeleteShare: fs.Float64("max-delete-share", 0, "refuse runs that would mark more than this share of live jobs deleted (env "+config.EnvMaxDeleteShare+"; default 0.5)"),
			maxDeleteMin:   fs.Int("max-delete-min", 0, "... and more than this many jobs (env "+config.EnvMaxDeleteMin+"; default 10)"),
			maxAttempts:    fs.Int("max-attempts", 0, "HTTP attempts per request, retries included (env "+config.EnvMaxAttempts+"; default 5)"),
			timeout:        fs.Duration("request-timeout", 0, "timeout of one HTTP attempt (env "+config.EnvRequestTimeout+"; default 30s)"),
			seenRefresh:    fs.Duration("seen-refresh", 0, "refresh last_seen_at of unchanged jobs at most this often (env "+config.EnvSeenRefresh+"; default 24h)"),
			rateLimit:      fs.Float64("rate-limit", 0, "requests per second to ModelArts at the start of a run, per source, retries included; 0: no limit (env "+config.EnvRateLimit+"; default 5)"),
			maxRateLimit:   fs.Float64("max-rate-limit", 0, "ceiling of the request rate, which grows from --rate-limit while the API answers without 429 and backs off on one (env "+config.EnvMaxRateLimit+"; default 50)"),
			runTimeout:     fs.Duration("run-timeout", 0, "deadline of one run of one source; 0: none (env "+config.EnvRunTimeout+"; default 30m)"),
		}
		f.source.pageConcurrency = fs.Int("page-concurrency", 0, fmt.Sprintf("pages of a walk requested at the same time, 1 to %d; 1: one after the other (env %s; default %d)",
			config.MaxPageConcurrency, config.EnvPageConcurrency, config.DefaultPageConcurrency))
		f.source.allowInsecureHTTP = fs.Bool("allow-insecure-http", false, "accept http:// endpoints on other hosts than loopback: credentials then travel in clear text (env "+config.EnvAllowInsecureHTTP+"; default false)")
	}
	return f
}

// flagVariables maps every flag that overrides a variable to that variable: the one place that says
// where a value came from, so that an error about a value given by a flag names the flag.
var flagVariables = map[string]string{
	"database-url": config.EnvDatabaseURL, "log-level": config.EnvLogLevel, "log-format": config.EnvLogFormat,
	"endpoint": config.EnvEndpoint, "region": config.EnvRegion, "project-id": config.EnvProjectID,
	"source": config.EnvSource, "iam-endpoint": config.EnvIAMEndpoint, "per-page": config.EnvPerPage,
	"max-per-page": config.EnvMaxPerPage, "max-walks": config.EnvMaxWalks, "max-delete-share": config.EnvMaxDeleteShare,
	"max-delete-min": config.EnvMaxDeleteMin, "max-attempts": config.EnvMaxAttempts,
	"request-timeout": config.EnvRequestTimeout, "seen-refresh": config.EnvSeenRefresh,
	"rate-limit": config.EnvRateLimit, "run-timeout": config.EnvRunTimeout, "page-concurrency": config.EnvPageConcurrency,
	"http-addr": config.EnvHTTPAddr, "grace": config.EnvShutdownGrace, "run-at-start": config.EnvRunAtStart,
	"concurrency": config.EnvConcurrency, "timezone": config.EnvTimezone, "schedule": config.EnvSchedule,
}

// load reads the environment, applies the flags that were set, and validates.
func (f *configFlags) load(getenv func(string) string) (*config.Config, error) {
	c, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	var perSource []string // flags of the environment's one source, meaningless with a configuration file
	f.fs.Visit(func(fl *flag.Flag) {
		if v, ok := flagVariables[fl.Name]; ok {
			c.SetBy(v, "--"+fl.Name)
		}
		if f.daemon != nil {
			f.daemon.apply(fl.Name, c)
		}
		switch fl.Name {
		case "database-url":
			c.DatabaseURL = *f.database
			f.passwordInFlag = len(dsn.Password(*f.database)) > 0
		case "log-level":
			c.LogLevel = *f.logLevel
		case "log-format":
			c.LogFormat = *f.logFmt
		}
		if f.source == nil {
			return
		}
		switch fl.Name {
		case "endpoint", "region", "project-id", "source", "iam-endpoint", "per-page", "max-per-page", "schedule":
			if c.ConfigFile != "" {
				perSource = append(perSource, "--"+fl.Name)
				return
			}
		}
		s, sf := &c.Sources[0], f.source
		switch fl.Name {
		case "endpoint":
			s.Endpoint = *sf.endpoint
		case "region":
			s.Region = *sf.region
		case "project-id":
			s.ProjectID = *sf.projectID
		case "source":
			s.Name = *sf.name
		case "iam-endpoint":
			s.IAMEndpoint = *sf.iam
		case "per-page":
			s.PerPage = *sf.perPage
		case "max-per-page":
			s.MaxPerPage = *sf.maxPerPage
		case "max-walks":
			c.MaxWalks = *sf.maxWalks
		case "max-delete-share":
			c.MaxDeleteShare = *sf.maxDeleteShare
		case "max-delete-min":
			c.MaxDeleteMin = *sf.maxDeleteMin
		case "max-attempts":
			c.MaxAttempts = *sf.maxAttempts
		case "request-timeout":
			c.RequestTimeout = *sf.timeout
		case "seen-refresh":
			c.SeenRefresh = *sf.seenRefresh
		case "rate-limit":
			c.RateLimit = *sf.rateLimit
		case "max-rate-limit":
			c.MaxRateLimit = *sf.maxRateLimit
		case "run-timeout":
			c.RunTimeout = *sf.runTimeout
		case "page-concurrency":
			c.PageConcurrency = *sf.pageConcurrency
		case "allow-insecure-http":
			c.AllowInsecureHTTP = *sf.allowInsecureHTTP
		}
	})
	if len(perSource) > 0 {
		return nil, fmt.Errorf("%s configure the source of the environment; with %s=%s, set them per source in the file",
			strings.Join(perSource, ", "), config.EnvConfigFile, c.ConfigFile)
	}
	if f.source == nil {
		// Commands without a source (migrate) only need the database settings.
		c.Sources = nil
		return c, validateBase(c)
	}
	return c, c.Validate()
}

// warn logs what a configuration may do but should not: a password on the command line, which every
// user of the machine can read (ps, /proc/PID/cmdline).
func (f *configFlags) warn(log *slog.Logger) {
	if f.passwordInFlag {
		log.Warn("--database-url carries a password, visible to every user of this machine in the process list; "+
			"put the URL in a file and set "+config.EnvDatabaseURL+"_FILE to its path, or use ~/.pgpass",
			"database", config.RedactDatabaseURL(*f.database))
	}
}

func validateBase(c *config.Config) error {
	tmp := *c
	tmp.Sources = []config.Source{{ProjectID: "-", Endpoint: "https://-", AK: "-", SK: "-"}}
	return tmp.Validate()
}
