package config

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/vizjob/indexer/internal/fetch"
)

// Scope says which commands have a setting's flag.
type Scope int

const (
	ScopeBase   Scope = iota // every command that reads the configuration
	ScopeSource              // commands that reach a source: sync, probe, run
	ScopeDaemon              // the daemon: indexer run
)

// Setting describes one setting once. Load reads it from the environment (its default when unset),
// Validate checks its bounds, Variables lists its variable, and cmd/indexer defines its flag and the
// flag's help from the same row. A source's own settings (PerSource) are checked by Source.validate,
// which a configuration file's sources share.
type Setting struct {
	Variable string // the environment variable: a public name (docs/configuration.md)
	Alt      string // a variable read when Variable is unset (DATABASE_URL)
	Flag     string // the flag that overrides the variable, without "--"; "": none
	Scope    Scope  // which commands have the flag
	// PerSource: a setting of the environment's one source (Config.Sources[0]); with a configuration
	// file each source sets it in the file instead (its Key). Derived from the row's source field.
	PerSource bool
	// Secret: may instead be read from the file that Variable_FILE names, and is never printed. Secrets
	// have no flag (a command line is visible to every user of the machine), except the database URL,
	// which need not carry a password (the command warns when it does).
	Secret bool
	// Credential: part of a source's credentials, which a configuration file may take from the
	// environment ({env: NAME}): setting it next to a configuration file is not an error.
	Credential bool
	Help       string // what it sets, for --help

	// Key is a per-source setting's key in a source of the configuration file (docs/configuration.md, Many sources).
	Key string

	def     any                                // its value when unset, of the field's type; nil: the zero value
	defText string                             // the default as help shows it, when def does not say it
	noun    string                             // what a float must be, for Load's message ("a number between 0 and 1")
	field   func(c *Config) any                // the field it sets: *string, *int, *float64, *bool or *time.Duration
	check   func(c *Config, name string) error // Validate's bounds; name is what the message calls the setting

	// A per-source setting has instead source, the field of a Source it sets (of Config.Sources[0] from
	// the environment), and checkSource, its rule, which Source.validate runs for every source in the
	// table's order after giving the setting its default.
	source      func(s *Source) any
	checkSource func(r *sourceCheck)
	inDefaults  bool // the file's defaults: may set it for the sources that do not
	fileLiteral bool // a secret that the file may also write as a plain string: an identifier (access key id, user)
}

// Field returns a pointer to the field of c the setting sets (in c.Sources[0] for a per-source one).
func (s Setting) Field(c *Config) any {
	if s.source != nil {
		return s.source(&c.Sources[0])
	}
	return s.field(c)
}

// Usage is the setting's flag help: what it sets, its variable and its default.
func (s Setting) Usage() string {
	env := s.Variable
	if s.Alt != "" {
		env += ", else " + s.Alt
	}
	if d := s.Default(); d != "" {
		return fmt.Sprintf("%s (env %s; default %s)", s.Help, env, d)
	}
	return fmt.Sprintf("%s (env %s)", s.Help, env)
}

// Default is the setting's default as a user writes it ("30s", "100"); "" when it has none.
func (s Setting) Default() string {
	switch d := s.def.(type) {
	case nil:
		return s.defText
	case time.Duration:
		text := d.String() // 2m0s -> 2m, 24h0m0s -> 24h
		if strings.HasSuffix(text, "m0s") {
			text = strings.TrimSuffix(text, "0s")
		}
		if strings.HasSuffix(text, "h0m") {
			text = strings.TrimSuffix(text, "0m")
		}
		return text
	default:
		return fmt.Sprint(d)
	}
}

// settings is the table of every setting the environment holds, in the order of docs/configuration.md.
var settings = perSource([]Setting{
	{Variable: EnvDatabaseURL, Alt: EnvDatabaseURLAlt, Flag: "database-url", Scope: ScopeBase, Secret: true,
		Help: "PostgreSQL URL", defText: "the libpq PG* variables and defaults",
		field: func(c *Config) any { return &c.DatabaseURL }},
	{Variable: EnvConfigFile, Scope: ScopeBase,
		Help:  "YAML file listing several sources",
		field: func(c *Config) any { return &c.ConfigFile }},
	{Variable: EnvCPUProfile, Scope: ScopeBase,
		Help:  "file to which the process writes a CPU profile of its whole life (go tool pprof): a diagnostic",
		field: func(c *Config) any { return &c.CPUProfile }},
	{Variable: EnvLogLevel, Flag: "log-level", Scope: ScopeBase, def: "info",
		Help:  "debug, info, warn or error",
		field: func(c *Config) any { return &c.LogLevel },
		check: func(c *Config, _ string) error {
			return oneOf(c.value(EnvLogLevel, c.LogLevel), c.LogLevel, "debug, info, warn or error", "debug", "info", "warn", "error")
		}},
	{Variable: EnvLogFormat, Flag: "log-format", Scope: ScopeBase, def: "auto",
		Help:  "auto (text on a terminal, JSON otherwise), text or json",
		field: func(c *Config) any { return &c.LogFormat },
		check: func(c *Config, _ string) error {
			return oneOf(c.value(EnvLogFormat, c.LogFormat), c.LogFormat, "auto, text or json", "auto", "text", "json")
		}},

	// A source's settings: the environment's one source, or each source of the configuration file
	// (Key). Source.validate checks them in this order.
	{Variable: EnvProjectID, Flag: "project-id", Scope: ScopeSource, Key: "project_id",
		Help:        "project id",
		source:      func(s *Source) any { return &s.ProjectID },
		checkSource: checkProjectID},
	{Variable: EnvEndpoint, Flag: "endpoint", Scope: ScopeSource, Key: "endpoint",
		Help: "ModelArts base URL", defText: "derived from the region",
		source:      func(s *Source) any { return &s.Endpoint },
		checkSource: checkEndpoint},
	{Variable: EnvRegion, Flag: "region", Scope: ScopeSource, Key: "region",
		Help:        "region, e.g. cn-north-4",
		source:      func(s *Source) any { return &s.Region },
		checkSource: checkRegion},
	{Variable: EnvAK, Scope: ScopeSource, Key: "ak", Secret: true, Credential: true, fileLiteral: true,
		Help:        "access key of AK/SK credentials",
		source:      func(s *Source) any { return &s.AK },
		checkSource: checkCredentials},
	{Variable: EnvSK, Scope: ScopeSource, Key: "sk", Secret: true, Credential: true,
		Help:   "secret key of AK/SK credentials",
		source: func(s *Source) any { return &s.SK }},
	{Variable: EnvSecurityToken, Scope: ScopeSource, Key: "security_token", Secret: true, Credential: true,
		Help:   "security token of temporary AK/SK credentials",
		source: func(s *Source) any { return &s.SecurityToken }},
	{Variable: EnvUsername, Scope: ScopeSource, Key: "username", Secret: true, Credential: true, fileLiteral: true,
		Help:   "IAM user, for token authentication",
		source: func(s *Source) any { return &s.Username }},
	{Variable: EnvPassword, Scope: ScopeSource, Key: "password", Secret: true, Credential: true,
		Help:   "the IAM user's password",
		source: func(s *Source) any { return &s.Password }},
	{Variable: EnvDomainName, Scope: ScopeSource, Key: "domain_name", Credential: true,
		Help:   "the account (domain) name the IAM user belongs to",
		source: func(s *Source) any { return &s.DomainName }},
	{Variable: EnvIAMEndpoint, Flag: "iam-endpoint", Scope: ScopeSource, Key: "iam_endpoint",
		Help: "IAM base URL", defText: "derived from the region",
		source:      func(s *Source) any { return &s.IAMEndpoint },
		checkSource: checkIAMEndpoint},
	{Variable: EnvWorkspaceID, Flag: "workspace-id", Scope: ScopeSource, Key: "workspace_id",
		Help: "ModelArts workspace whose jobs the source lists", defText: "workspace 0, the API's default",
		source: func(s *Source) any { return &s.WorkspaceID },
		checkSource: func(r *sourceCheck) {
			if !validID(r.WorkspaceID) {
				r.bad("%s is not a workspace id: letters, digits, - and _ only, at most 64 (console: ModelArts > Workspace)",
					r.value(EnvWorkspaceID, r.WorkspaceID))
			}
		}},
	{Variable: EnvSource, Flag: "source", Scope: ScopeSource, Key: "name",
		Help: "source name in the database", defText: "the project id",
		source:      func(s *Source) any { return &s.Name },
		checkSource: func(r *sourceCheck) { r.Name = cmp.Or(r.Name, r.ProjectID) }},
	{Variable: EnvSchedule, Flag: "schedule", Scope: ScopeDaemon, Key: "schedule", inDefaults: true, def: DefaultSchedule,
		Help:        "cron schedule of the full walks: five fields or a descriptor such as @every 10m",
		source:      func(s *Source) any { return &s.Schedule },
		checkSource: checkSchedule},
	{Variable: EnvMaxPerPage, Flag: "max-per-page", Scope: ScopeSource, Key: "max_per_page", inDefaults: true, def: DefaultMaxPerPage,
		Help:   "largest per_page the endpoint accepts",
		source: func(s *Source) any { return &s.MaxPerPage },
		checkSource: func(r *sourceCheck) {
			if r.MaxPerPage < 1 || r.MaxPerPage > fetch.MaxPerPageLimit {
				r.bad("%s must be between 1 and %d, got %d", r.name(EnvMaxPerPage), fetch.MaxPerPageLimit, r.MaxPerPage)
			}
		}},
	{Variable: EnvPerPage, Flag: "per-page", Scope: ScopeSource, Key: "per_page", inDefaults: true,
		Help: "page size of a walk", defText: fmt.Sprint(DefaultPerPage),
		source:      func(s *Source) any { return &s.PerPage },
		checkSource: checkPerPage},

	// Every source's runs.
	{Variable: EnvHeadSchedule, Flag: "head-schedule", Scope: ScopeDaemon, def: DefaultHeadSchedule,
		Help:  "cron schedule of the head walks, for every source; off: none",
		field: func(c *Config) any { return &c.HeadSchedule },
		check: func(c *Config, name string) error {
			if c.HeadSchedule == HeadScheduleOff {
				return nil
			}
			if _, err := cron.ParseStandard(c.HeadSchedule); err != nil {
				return fmt.Errorf("%s %q: %v (examples: \"@every 1m\", \"* * * * *\", or off)", name, c.HeadSchedule, err)
			}
			return nil
		}},
	{Variable: EnvDeleteCheckBudget, Flag: "delete-check-budget", Scope: ScopeSource, def: DefaultDeleteCheckBudget,
		Help:  "calls a run may spend asking the service about deletion candidates",
		field: func(c *Config) any { return &c.DeleteCheckBudget },
		check: func(c *Config, name string) error { return atLeast(name, c.DeleteCheckBudget, 1, " call per run") }},
	{Variable: EnvDeleteCheckTime, Flag: "delete-check-time", Scope: ScopeSource, def: DefaultDeleteCheckTime,
		Help:  "time a run may spend asking the service about deletion candidates",
		field: func(c *Config) any { return &c.DeleteCheckTime },
		check: func(c *Config, name string) error { return positive(name, c.DeleteCheckTime) }},
	{Variable: EnvMaxWalks, Flag: "max-walks", Scope: ScopeSource, def: DefaultMaxWalks,
		Help:  "walks per run before it ends partial",
		field: func(c *Config) any { return &c.MaxWalks },
		check: func(c *Config, name string) error { return atLeast(name, c.MaxWalks, 1, "") }},
	{Variable: EnvMaxDeleteShare, Flag: "max-delete-share", Scope: ScopeSource, def: DefaultDeleteShare,
		Help: "refuse runs that would mark more than this share of live jobs deleted", noun: "a number between 0 and 1",
		field: func(c *Config) any { return &c.MaxDeleteShare },
		check: func(c *Config, name string) error { return between(name, c.MaxDeleteShare, 0, 1, "") }},
	{Variable: EnvMaxDeleteMin, Flag: "max-delete-min", Scope: ScopeSource, def: DefaultDeleteMin,
		Help:  "... and more than this many jobs",
		field: func(c *Config) any { return &c.MaxDeleteMin },
		check: func(c *Config, name string) error { return notNegative(name, c.MaxDeleteMin, "") }},
	{Variable: EnvMaxAttempts, Flag: "max-attempts", Scope: ScopeSource, def: DefaultAttempts,
		Help:  "HTTP attempts per request, retries included",
		field: func(c *Config) any { return &c.MaxAttempts },
		check: func(c *Config, name string) error { return between(name, c.MaxAttempts, 1, 20, "") }},
	{Variable: EnvRequestTimeout, Flag: "request-timeout", Scope: ScopeSource, def: DefaultTimeout,
		Help:  "timeout of one HTTP attempt",
		field: func(c *Config) any { return &c.RequestTimeout },
		check: func(c *Config, name string) error { return positive(name, c.RequestTimeout) }},
	{Variable: EnvRateLimit, Flag: "rate-limit", Scope: ScopeSource, def: DefaultRateLimit,
		Help:  "requests per second to ModelArts at the start of a run, per source, retries included; 0: no limit",
		noun:  "a number of requests per second",
		field: func(c *Config) any { return &c.RateLimit },
		check: func(c *Config, name string) error {
			if !finiteNotNegative(c.RateLimit) {
				return fmt.Errorf("%s must be a number of requests per second, 0 for no limit, got %g", name, c.RateLimit)
			}
			return nil
		}},
	{Variable: EnvMaxRateLimit, Flag: "max-rate-limit", Scope: ScopeSource, def: DefaultMaxRateLimit,
		Help:  "ceiling of the request rate, which grows from --rate-limit while the API answers without 429 and backs off on one",
		noun:  "a number of requests per second",
		field: func(c *Config) any { return &c.MaxRateLimit },
		check: func(c *Config, name string) error {
			if !finiteNotNegative(c.MaxRateLimit) {
				return fmt.Errorf("%s must be a number of requests per second (at most %s, the rate never grows), got %g",
					name, c.Origin(EnvRateLimit), c.MaxRateLimit)
			}
			return nil
		}},
	{Variable: EnvRunTimeout, Flag: "run-timeout", Scope: ScopeSource, def: DefaultRunTimeout,
		Help:  "deadline of one run of one source; 0: none",
		field: func(c *Config) any { return &c.RunTimeout },
		check: func(c *Config, name string) error { return notNegative(name, c.RunTimeout, " (0: no deadline)") }},
	{Variable: EnvPageConcurrency, Flag: "page-concurrency", Scope: ScopeSource, def: DefaultPageConcurrency,
		Help:  fmt.Sprintf("pages of a walk requested at the same time, 1 to %d; 1: one after the other", MaxPageConcurrency),
		field: func(c *Config) any { return &c.PageConcurrency },
		check: func(c *Config, name string) error {
			return between(name, c.PageConcurrency, 1, MaxPageConcurrency, " (one page after the other)")
		}},
	{Variable: EnvPageBuffer, Flag: "page-buffer-mib", Scope: ScopeSource, def: DefaultPageBufferMiB,
		Help:  "MiB of decoded pages a walk may hold ahead of the database; lower it under a tight memory limit (fewer pages are then requested ahead)",
		field: func(c *Config) any { return &c.PageBufferMiB },
		check: func(c *Config, name string) error { return between(name, c.PageBufferMiB, 1, MaxPageBufferMiB, "") }},
	{Variable: EnvSeenRefresh, Flag: "seen-refresh", Scope: ScopeSource, def: DefaultSeenRefresh,
		Help:  "refresh last_seen_at of unchanged jobs at most this often",
		field: func(c *Config) any { return &c.SeenRefresh },
		check: func(c *Config, name string) error { return notNegative(name, c.SeenRefresh, "") }},
	{Variable: EnvAllowInsecureHTTP, Flag: "allow-insecure-http", Scope: ScopeSource, def: false,
		Help:  "accept http:// endpoints on other hosts than loopback: credentials then travel in clear text",
		field: func(c *Config) any { return &c.AllowInsecureHTTP }},

	// The daemon.
	{Variable: EnvHTTPAddr, Flag: "http-addr", Scope: ScopeDaemon, def: DefaultHTTPAddr,
		Help:  "listen address of the status page (/) and of /healthz, /readyz and /metrics",
		field: func(c *Config) any { return &c.HTTPAddr },
		check: func(c *Config, _ string) error {
			if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
				return fmt.Errorf("%s is not host:port (examples: :8080, 127.0.0.1:8080)", c.value(EnvHTTPAddr, c.HTTPAddr))
			}
			return nil
		}},
	{Variable: EnvHTTPToken, Scope: ScopeDaemon, Secret: true,
		Help:  "bearer token required on / and /metrics; unset: none",
		field: func(c *Config) any { return &c.HTTPToken },
		check: func(c *Config, _ string) error {
			if c.HTTPToken != "" && (len(c.HTTPToken) < MinHTTPTokenLen || strings.ContainsAny(c.HTTPToken, " \t\r\n")) {
				return fmt.Errorf("%s must be at least %d characters without spaces (e.g. openssl rand -hex 32), got %d",
					EnvHTTPToken, MinHTTPTokenLen, len(c.HTTPToken))
			}
			return nil
		}},
	{Variable: EnvLedgerKeepNoop, Flag: "ledger-keep-noop", Scope: ScopeDaemon, def: DefaultLedgerKeepNoop,
		Help:  "how long the daemon keeps runs that wrote nothing and did not fail in modelarts.sync_runs (sync_run_counts keeps their counts); 0: forever",
		field: func(c *Config) any { return &c.LedgerKeepNoop },
		check: func(c *Config, name string) error {
			return notNegative(name, c.LedgerKeepNoop, " (0 keeps them forever)")
		}},
	{Variable: EnvLedgerKeep, Flag: "ledger-keep", Scope: ScopeDaemon, def: DefaultLedgerKeep,
		Help:  "how long the daemon keeps the other runs (that changed a job, or failed) in modelarts.sync_runs, the latest runs of each source always kept; and the hourly counts of runs (sync_run_counts), which it then folds into daily ones (sync_run_daily_counts); 0: forever, nothing folded",
		field: func(c *Config) any { return &c.LedgerKeep },
		check: func(c *Config, name string) error {
			if err := notNegative(name, c.LedgerKeep, " (0 keeps them forever)"); err != nil {
				return err
			}
			if c.LedgerKeep > 0 && (c.LedgerKeepNoop == 0 || c.LedgerKeepNoop > c.LedgerKeep) {
				return fmt.Errorf("%s is %s, shorter than %s (%s): runs that changed something would be pruned before runs that did not; raise %s or lower %s",
					name, c.LedgerKeep, c.Origin(EnvLedgerKeepNoop), durationText(c.LedgerKeepNoop), name, c.Origin(EnvLedgerKeepNoop))
			}
			return nil
		}},
	{Variable: EnvMetricsDetail, Flag: "metrics-detail", Scope: ScopeDaemon, def: false,
		Help:  "export on /metrics, by source, the jobs per status code, run durations, API requests, retries, throttling, deletions and request rate (about 60 series a source instead of 11)",
		field: func(c *Config) any { return &c.MetricsDetail }},
	{Variable: EnvConcurrency, Flag: "concurrency", Scope: ScopeDaemon, def: DefaultConcurrency,
		Help:  "sources synced at the same time, at most",
		field: func(c *Config) any { return &c.Concurrency },
		check: func(c *Config, name string) error { return between(name, c.Concurrency, 1, MaxConcurrency, "") }},
	{Variable: EnvShutdownGrace, Flag: "grace", Scope: ScopeDaemon, def: DefaultGrace,
		Help:  "on SIGINT or SIGTERM, how long runs in flight may finish before they are cancelled",
		field: func(c *Config) any { return &c.ShutdownGrace },
		check: func(c *Config, name string) error { return notNegative(name, c.ShutdownGrace, "") }},
	{Variable: EnvRunAtStart, Flag: "run-at-start", Scope: ScopeDaemon, def: false,
		Help:  "sync every source once at start, then on schedule",
		field: func(c *Config) any { return &c.RunAtStart }},
	{Variable: EnvTimezone, Flag: "timezone", Scope: ScopeDaemon, def: DefaultTimezone,
		Help:  "time zone the cron schedules are read in",
		field: func(c *Config) any { return &c.Timezone },
		check: func(c *Config, _ string) error {
			loc, err := time.LoadLocation(c.Timezone)
			if err != nil {
				return fmt.Errorf("%s is not a time zone (examples: UTC, Asia/Shanghai, Europe/Berlin)", c.value(EnvTimezone, c.Timezone))
			}
			c.Location = loc
			return nil
		}},
})

// perSource marks the rows that set a field of a Source.
func perSource(rows []Setting) []Setting {
	for i := range rows {
		rows[i].PerSource = rows[i].source != nil
	}
	return rows
}

// Settings returns the description of every setting the environment holds.
func Settings() []Setting { return slices.Clone(settings) }

// Variables lists every environment variable the configuration reads, *_FILE forms included (for
// checks of deployment files such as docker-compose.yml). Variables a configuration file references
// ({env: NAME}) are the user's own and not listed.
func Variables() []string {
	var vars, files []string
	for _, s := range settings {
		names := []string{s.Variable}
		if s.Alt != "" {
			names = append(names, s.Alt)
		}
		vars = append(vars, names...)
		if s.Secret {
			for _, n := range names {
				files = append(files, n+fileSuffix)
			}
		}
	}
	return append(vars, files...)
}

// perSourceVariables are the variables of the environment's one source: with a configuration file
// they would be ignored, so setting them is an error. Credentials are not listed: the file may
// reference them ({env: HUAWEICLOUD_SDK_SK}).
func perSourceVariables() []string {
	var vars []string
	for _, s := range settings {
		if s.PerSource && !s.Credential {
			vars = append(vars, s.Variable)
		}
	}
	return vars
}

// Bounds of Validate's messages: "NAME must be at least 1, got 0".

func atLeast(name string, v, lo int, unit string) error {
	if v < lo {
		return fmt.Errorf("%s must be at least %d%s, got %d", name, lo, unit, v)
	}
	return nil
}

func between[T int | float64](name string, v, lo, hi T, note string) error {
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("%s must be between %v%s and %v, got %v", name, lo, note, hi, v)
	}
	return nil
}

func notNegative[T int | time.Duration](name string, v T, note string) error {
	if v < 0 {
		return fmt.Errorf("%s must not be negative%s, got %v", name, note, v)
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be positive, got %s", name, d)
	}
	return nil
}

func oneOf(named, v, choices string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s: use %s", named, choices)
	}
	return nil
}

// finiteNotNegative says whether f is a number at least 0 and not +Inf (NaN is not).
func finiteNotNegative(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }

// durationText writes a duration as the settings' defaults are written; 0 is "0 (forever)".
func durationText(d time.Duration) string {
	if d == 0 {
		return "0 (forever)"
	}
	return Setting{def: d}.Default()
}
