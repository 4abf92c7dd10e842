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

// configFlags are the flags that override the environment, as the table settingFlags describes them.
// Secrets have no flags on purpose: a command line is visible to every user of the machine (ps,
// /proc); use the variables or their *_FILE forms.
type configFlags struct {
	fs     *flag.FlagSet
	values map[string]any // flag name -> the pointer the flag package fills
	source bool           // the command syncs or probes a source (the source group's flags)

	database       *string // --database-url, kept for warn
	passwordInFlag bool    // --database-url carries a password (see warn)
}

// Groups of flags: which commands have them.
const (
	groupBase   = iota // every command that reads the configuration
	groupSource        // commands that reach a source: sync, probe, run
	groupDaemon        // indexer run
)

// flagSetting is one setting a flag overrides: the flag, the variable it overrides, the commands that
// have it, its help, and the field of the configuration it sets. The flags, applying them, and what
// an error calls a value given by a flag (Config.SetBy) all come from this one table.
type flagSetting struct {
	flag, variable string
	group          int
	perSource      bool // a setting of the environment's one source: refused with a configuration file
	help           string
	field          func(c *config.Config) any // a *string, *int, *float64, *bool or *time.Duration in c
}

func src0(c *config.Config) *config.Source { return &c.Sources[0] }

var settingFlags = []flagSetting{
	{"database-url", config.EnvDatabaseURL, groupBase, false, "PostgreSQL URL (env " + config.EnvDatabaseURL + ", else " + config.EnvDatabaseURLAlt + ", else libpq PG* defaults)",
		func(c *config.Config) any { return &c.DatabaseURL }},
	{"log-level", config.EnvLogLevel, groupBase, false, "debug, info, warn or error (env " + config.EnvLogLevel + "; default info)",
		func(c *config.Config) any { return &c.LogLevel }},
	{"log-format", config.EnvLogFormat, groupBase, false, "auto, text or json (env " + config.EnvLogFormat + "; default auto: text on a terminal)",
		func(c *config.Config) any { return &c.LogFormat }},

	{"endpoint", config.EnvEndpoint, groupSource, true, "ModelArts base URL (env " + config.EnvEndpoint + ")",
		func(c *config.Config) any { return &src0(c).Endpoint }},
	{"region", config.EnvRegion, groupSource, true, "region, e.g. cn-north-4 (env " + config.EnvRegion + ")",
		func(c *config.Config) any { return &src0(c).Region }},
	{"project-id", config.EnvProjectID, groupSource, true, "project id (env " + config.EnvProjectID + ")",
		func(c *config.Config) any { return &src0(c).ProjectID }},
	{"source", config.EnvSource, groupSource, true, "source name in the database (env " + config.EnvSource + "; default the project id)",
		func(c *config.Config) any { return &src0(c).Name }},
	{"iam-endpoint", config.EnvIAMEndpoint, groupSource, true, "IAM base URL (env " + config.EnvIAMEndpoint + ")",
		func(c *config.Config) any { return &src0(c).IAMEndpoint }},
	{"per-page", config.EnvPerPage, groupSource, true, "page size of a walk (env " + config.EnvPerPage + "; default 100)",
		func(c *config.Config) any { return &src0(c).PerPage }},
	{"max-per-page", config.EnvMaxPerPage, groupSource, true, "largest per_page the endpoint accepts (env " + config.EnvMaxPerPage + "; default 100)",
		func(c *config.Config) any { return &src0(c).MaxPerPage }},
	{"max-walks", config.EnvMaxWalks, groupSource, false, "walks per run before it ends partial (env " + config.EnvMaxWalks + "; default 3)",
		func(c *config.Config) any { return &c.MaxWalks }},
	{"max-delete-share", config.EnvMaxDeleteShare, groupSource, false, "refuse runs that would mark more than this share of live jobs deleted (env " + config.EnvMaxDeleteShare + "; default 0.5)",
		func(c *config.Config) any { return &c.MaxDeleteShare }},
	{"max-delete-min", config.EnvMaxDeleteMin, groupSource, false, "... and more than this many jobs (env " + config.EnvMaxDeleteMin + "; default 10)",
		func(c *config.Config) any { return &c.MaxDeleteMin }},
	{"max-attempts", config.EnvMaxAttempts, groupSource, false, "HTTP attempts per request, retries included (env " + config.EnvMaxAttempts + "; default 5)",
		func(c *config.Config) any { return &c.MaxAttempts }},
	{"request-timeout", config.EnvRequestTimeout, groupSource, false, "timeout of one HTTP attempt (env " + config.EnvRequestTimeout + "; default 30s)",
		func(c *config.Config) any { return &c.RequestTimeout }},
	{"seen-refresh", config.EnvSeenRefresh, groupSource, false, "refresh last_seen_at of unchanged jobs at most this often (env " + config.EnvSeenRefresh + "; default 24h)",
		func(c *config.Config) any { return &c.SeenRefresh }},
	{"rate-limit", config.EnvRateLimit, groupSource, false, "requests per second to ModelArts at the start of a run, per source, retries included; 0: no limit (env " + config.EnvRateLimit + "; default 5)",
		func(c *config.Config) any { return &c.RateLimit }},
	{"max-rate-limit", config.EnvMaxRateLimit, groupSource, false, "ceiling of the request rate, which grows from --rate-limit while the API answers without 429 and backs off on one (env " + config.EnvMaxRateLimit + "; default 50)",
		func(c *config.Config) any { return &c.MaxRateLimit }},
	{"run-timeout", config.EnvRunTimeout, groupSource, false, "deadline of one run of one source; 0: none (env " + config.EnvRunTimeout + "; default 30m)",
		func(c *config.Config) any { return &c.RunTimeout }},
	{"page-concurrency", config.EnvPageConcurrency, groupSource, false, fmt.Sprintf("pages of a walk requested at the same time, 1 to %d; 1: one after the other (env %s; default %d)",
		config.MaxPageConcurrency, config.EnvPageConcurrency, config.DefaultPageConcurrency),
		func(c *config.Config) any { return &c.PageConcurrency }},
	{"delete-check-budget", config.EnvDeleteCheckBudget, groupSource, false, fmt.Sprintf("calls a run may spend asking the service about deletion candidates (env %s; default %d)", config.EnvDeleteCheckBudget, config.DefaultDeleteCheckBudget),
		func(c *config.Config) any { return &c.DeleteCheckBudget }},
	{"delete-check-time", config.EnvDeleteCheckTime, groupSource, false, "time a run may spend asking the service about deletion candidates (env " + config.EnvDeleteCheckTime + "; default 2m)",
		func(c *config.Config) any { return &c.DeleteCheckTime }},
	{"allow-insecure-http", config.EnvAllowInsecureHTTP, groupSource, false, "accept http:// endpoints on other hosts than loopback: credentials then travel in clear text (env " + config.EnvAllowInsecureHTTP + "; default false)",
		func(c *config.Config) any { return &c.AllowInsecureHTTP }},

	{"http-addr", config.EnvHTTPAddr, groupDaemon, false, "listen address of the status page (/) and of /healthz, /readyz and /metrics (env " + config.EnvHTTPAddr + "; default " + config.DefaultHTTPAddr + ")",
		func(c *config.Config) any { return &c.HTTPAddr }},
	{"grace", config.EnvShutdownGrace, groupDaemon, false, "on SIGINT or SIGTERM, how long runs in flight may finish before they are cancelled (env " + config.EnvShutdownGrace + "; default 30s)",
		func(c *config.Config) any { return &c.ShutdownGrace }},
	{"run-at-start", config.EnvRunAtStart, groupDaemon, false, "sync every source once at start, then on schedule (env " + config.EnvRunAtStart + ")",
		func(c *config.Config) any { return &c.RunAtStart }},
	{"concurrency", config.EnvConcurrency, groupDaemon, false, fmt.Sprintf("sources synced at the same time, at most (env %s; default %d)", config.EnvConcurrency, config.DefaultConcurrency),
		func(c *config.Config) any { return &c.Concurrency }},
	{"timezone", config.EnvTimezone, groupDaemon, false, "time zone the cron schedules are read in (env " + config.EnvTimezone + "; default UTC)",
		func(c *config.Config) any { return &c.Timezone }},
	{"head-schedule", config.EnvHeadSchedule, groupDaemon, false, "cron schedule of the head walks, for every source; off: none (env " + config.EnvHeadSchedule + "; default " + config.DefaultHeadSchedule + ")",
		func(c *config.Config) any { return &c.HeadSchedule }},
	{"schedule", config.EnvSchedule, groupDaemon, true, "cron schedule of the full walks: five fields or a descriptor such as @every 10m (env " +
		config.EnvSchedule + "; default " + config.DefaultSchedule + ")",
		func(c *config.Config) any { return &src0(c).Schedule }},
}

// addConfigFlags defines the flags of the groups a command has: the base group always, the source
// group when withSource, the daemon group with addDaemonFlags.
func addConfigFlags(fs *flag.FlagSet, withSource bool) *configFlags {
	f := &configFlags{fs: fs, values: map[string]any{}, source: withSource}
	f.define(groupBase)
	if withSource {
		f.define(groupSource)
	}
	f.database = f.values["database-url"].(*string)
	return f
}

// addDaemonFlags adds the daemon's flags (indexer run).
func addDaemonFlags(f *configFlags) { f.define(groupDaemon) }

// define defines the flags of one group, each of the type of the field it sets.
func (f *configFlags) define(group int) {
	probe := &config.Config{Sources: make([]config.Source, 1)}
	for _, s := range settingFlags {
		if s.group != group {
			continue
		}
		switch s.field(probe).(type) {
		case *string:
			f.values[s.flag] = f.fs.String(s.flag, "", s.help)
		case *int:
			f.values[s.flag] = f.fs.Int(s.flag, 0, s.help)
		case *float64:
			f.values[s.flag] = f.fs.Float64(s.flag, 0, s.help)
		case *bool:
			f.values[s.flag] = f.fs.Bool(s.flag, false, s.help)
		case *time.Duration:
			f.values[s.flag] = f.fs.Duration(s.flag, 0, s.help)
		default:
			panic("flag " + s.flag + ": a field of an unsupported type")
		}
	}
}

// load reads the environment, applies the flags that were set, and validates.
func (f *configFlags) load(getenv func(string) string) (*config.Config, error) {
	c, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	byFlag := make(map[string]flagSetting, len(settingFlags))
	for _, s := range settingFlags {
		byFlag[s.flag] = s
	}
	var perSource []string // flags of the environment's one source, meaningless with a configuration file
	f.fs.Visit(func(fl *flag.Flag) {
		s, ok := byFlag[fl.Name]
		if _, defined := f.values[fl.Name]; !ok || !defined {
			return // a flag of the command's own (demo has its own --schedule and --source)
		}
		if s.perSource && c.ConfigFile != "" {
			perSource = append(perSource, "--"+fl.Name)
			return
		}
		if s.perSource && len(c.Sources) == 0 {
			return
		}
		c.SetBy(s.variable, "--"+fl.Name)
		switch dst := s.field(c).(type) {
		case *string:
			*dst = *f.values[fl.Name].(*string)
		case *int:
			*dst = *f.values[fl.Name].(*int)
		case *float64:
			*dst = *f.values[fl.Name].(*float64)
		case *bool:
			*dst = *f.values[fl.Name].(*bool)
		case *time.Duration:
			*dst = *f.values[fl.Name].(*time.Duration)
		}
		if fl.Name == "database-url" {
			f.passwordInFlag = len(dsn.Password(*f.database)) > 0
		}
	})
	if len(perSource) > 0 {
		return nil, fmt.Errorf("%s configure the source of the environment; with %s=%s, set them per source in the file",
			strings.Join(perSource, ", "), config.EnvConfigFile, c.ConfigFile)
	}
	if !f.source {
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
