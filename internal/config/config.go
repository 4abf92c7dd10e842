// Package config loads and validates the indexer's configuration: one source
// from the environment (the variables of docs/configuration.md), or several from the YAML file
// INDEXER_CONFIG names; secrets optionally read from files (*_FILE); the daemon's
// settings (HTTP address, concurrency, shutdown grace, time zone). Nothing
// outside this package reads the environment.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

// Environment variable names: a public contract (docs/configuration.md, Settings). The defaults
// of settings that a library acts on are that library's (fetch.Default...): each is written once.
const (
	EnvDatabaseURL      = "INDEXER_DATABASE_URL"
	EnvDatabaseURLAlt   = "DATABASE_URL"
	EnvEndpoint         = "MODELARTS_ENDPOINT"
	EnvRegion           = "MODELARTS_REGION"
	EnvWorkspaceID      = "MODELARTS_WORKSPACE_ID" // the workspace whose jobs a source lists; unset: the default one
	EnvProjectID        = "HUAWEICLOUD_SDK_PROJECT_ID"
	EnvAK               = "HUAWEICLOUD_SDK_AK"
	EnvSK               = "HUAWEICLOUD_SDK_SK"
	EnvSecurityToken    = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
	EnvUsername         = "HUAWEICLOUD_USERNAME"
	EnvPassword         = "HUAWEICLOUD_PASSWORD"
	EnvDomainName       = "HUAWEICLOUD_DOMAIN_NAME"
	EnvIAMEndpoint      = "HUAWEICLOUD_IAM_ENDPOINT"
	EnvSource           = "INDEXER_SOURCE"
	EnvSchedule         = "INDEXER_SCHEDULE"
	EnvConfigFile       = "INDEXER_CONFIG"
	EnvPerPage          = "INDEXER_PER_PAGE"
	EnvMaxPerPage       = "INDEXER_MAX_PER_PAGE"
	EnvMaxWalks         = "INDEXER_MAX_WALKS"
	EnvMaxDeleteShare   = "INDEXER_MAX_DELETE_SHARE"
	EnvMaxDeleteMin     = "INDEXER_MAX_DELETE_MIN"
	EnvRequestTimeout   = "INDEXER_REQUEST_TIMEOUT"
	EnvMaxAttempts      = "INDEXER_MAX_ATTEMPTS"
	EnvLogLevel         = "INDEXER_LOG_LEVEL"
	EnvLogFormat        = "INDEXER_LOG_FORMAT"
	EnvSeenRefresh      = "INDEXER_SEEN_REFRESH"
	EnvHTTPAddr         = "INDEXER_HTTP_ADDR"
	EnvConcurrency      = "INDEXER_CONCURRENCY"
	EnvShutdownGrace    = "INDEXER_SHUTDOWN_GRACE"
	EnvRunAtStart       = "INDEXER_RUN_AT_START"
	EnvTimezone         = "INDEXER_TIMEZONE"
	EnvRateLimit        = "INDEXER_RATE_LIMIT"     // requests per second to ModelArts, per source (0: unlimited)
	EnvRunTimeout       = "INDEXER_RUN_TIMEOUT"    // deadline of one run of one source (0: none)
	EnvMaxRateLimit     = "INDEXER_MAX_RATE_LIMIT" // ceiling of the adaptive request rate, per source
	DefaultRateLimit    = 5.0
	DefaultMaxRateLimit = 50.0
	DefaultRunTimeout   = 30 * time.Minute
	fileSuffix          = "_FILE"
	DefaultSchedule     = "*/5 * * * *"
	DefaultPerPage      = fetch.DefaultPerPage
	DefaultMaxPerPage   = fetch.DefaultMaxPerPage
	DefaultMaxWalks     = 3
	DefaultDeleteShare  = 0.5
	DefaultDeleteMin    = 10
	DefaultAttempts     = fetch.DefaultMaxAttempts
	DefaultTimeout      = fetch.DefaultRequestTimeout
	DefaultSeenRefresh  = 24 * time.Hour
	DefaultHTTPAddr     = "127.0.0.1:8080"
	DefaultConcurrency  = 4
	DefaultGrace        = 30 * time.Second
	DefaultTimezone     = "UTC"
	MaxConcurrency      = 64
	defaultEndpointTmpl = "https://modelarts.%s.%s"
	defaultIAMTmpl      = "https://iam.%s.%s"
)

// Deletion checks and head walks (see the syncer's evidence.go and head.go).
const (
	EnvDeleteCheckBudget     = "INDEXER_DELETE_CHECK_BUDGET" // calls per run asking the service about deletion candidates
	EnvDeleteCheckTime       = "INDEXER_DELETE_CHECK_TIME"   // time per run asking about them
	EnvHeadSchedule          = "INDEXER_HEAD_SCHEDULE"       // cron schedule of head walks for indexer run; "off": none
	DefaultDeleteCheckBudget = 200
	DefaultDeleteCheckTime   = 2 * time.Minute
	DefaultHeadSchedule      = "@every 1m"
	HeadScheduleOff          = "off"

	// Retention of the run ledger (the daemon prunes modelarts.sync_runs; 0: keep forever).
	EnvLedgerKeepNoop     = "INDEXER_LEDGER_KEEP_NOOP" // runs that wrote nothing and did not fail
	EnvLedgerKeep         = "INDEXER_LEDGER_KEEP"      // every other run (the latest of each source are kept)
	EnvMetricsDetail      = "INDEXER_METRICS_DETAIL"   // /metrics by source in detail
	DefaultLedgerKeepNoop = 7 * 24 * time.Hour
	DefaultLedgerKeep     = 90 * 24 * time.Hour
)

// EnvHTTPToken is the bearer token the daemon requires on / and /metrics (also EnvHTTPToken_FILE);
// unset: no authentication. MinHTTPTokenLen is its least length.
const (
	EnvHTTPToken    = "INDEXER_HTTP_TOKEN"
	MinHTTPTokenLen = 16
)

// EnvCPUProfile names a file to which an indexer process writes a CPU profile of its whole life (for
// go tool pprof): a diagnostic, which `indexer bench --cpu-profile` sets for its sync processes.
const EnvCPUProfile = "INDEXER_CPU_PROFILE"

// CPUProfile returns the file EnvCPUProfile names, for main, which starts the profile before it
// loads the configuration; "" when unset.
func CPUProfile(getenv func(string) string) string { return strings.TrimSpace(getenv(EnvCPUProfile)) }

// Plain-HTTP endpoints: refused unless on a loopback address or allowed here.
const EnvAllowInsecureHTTP = "INDEXER_ALLOW_INSECURE_HTTP"

// Pages of a walk requested at the same time (fetch.WalkOptions.Concurrency).
const (
	EnvPageConcurrency     = "INDEXER_PAGE_CONCURRENCY"
	DefaultPageConcurrency = 4
	MaxPageConcurrency     = 32
)

// Memory of the pages a walk holds ahead of the database, in MiB (fetch.WalkOptions.MaxBufferBytes).
const (
	EnvPageBuffer        = "INDEXER_PAGE_BUFFER_MIB"
	DefaultPageBufferMiB = fetch.DefaultMaxBufferBytes >> 20
	MaxPageBufferMiB     = 4096
)

// Config is everything a command needs.
type Config struct {
	DatabaseURL    string // empty: libpq defaults and PG* variables
	Sources        []Source
	MaxWalks       int           // walks per run before it ends partial
	MaxDeleteShare float64       // refuse a run that would delete more than this share of live jobs ...
	MaxDeleteMin   int           // ... and more than this many
	RequestTimeout time.Duration // per HTTP attempt
	MaxAttempts    int           // per request, retries included
	SeenRefresh    time.Duration // last_seen_at of unchanged rows is refreshed at most this often
	LogLevel       string        // debug, info, warn, error
	LogFormat      string        // auto, text, json
	RateLimit      float64       // requests per second to ModelArts at the start of a run, per source; 0: unlimited
	MaxRateLimit   float64       // the rate grows up to this while the API answers without 429
	RunTimeout     time.Duration // deadline of one run of one source; 0: none

	// PageConcurrency is how many pages of a walk are requested at the same time (1: one after the other).
	PageConcurrency int
	// PageBufferMiB bounds the decoded pages a walk holds ahead of the database, in MiB.
	PageBufferMiB int

	// DeleteCheckBudget and DeleteCheckTime bound what a run spends asking the service about deletion
	// candidates; the rest wait for the next run.
	DeleteCheckBudget int
	DeleteCheckTime   time.Duration
	// HeadSchedule is the cron schedule of head walks (indexer run), for every source; HeadScheduleOff: none.
	HeadSchedule string

	// AllowInsecureHTTP accepts http:// ModelArts and IAM endpoints on other hosts than loopback
	// (signatures, tokens and the IAM password then travel in clear text).
	AllowInsecureHTTP bool

	// ConfigFile is the YAML file the sources came from (INDEXER_CONFIG); empty: the environment.
	ConfigFile string
	// CPUProfile is the file the process writes a CPU profile to (main starts it: see CPUProfile).
	CPUProfile string

	// The daemon (indexer run, indexer demo).
	HTTPAddr      string         // listen address of /healthz, /readyz, /metrics
	HTTPToken     string         // bearer token required on / and /metrics; empty: none
	Concurrency   int            // sources synced at the same time, at most
	ShutdownGrace time.Duration  // how long a run in flight may finish after a shutdown signal
	RunAtStart    bool           // sync every source once at start, then on schedule
	Timezone      string         // IANA name the cron schedules are read in
	Location      *time.Location // Timezone, loaded by Validate

	// LedgerKeepNoop and LedgerKeep: how long the daemon keeps runs in modelarts.sync_runs that wrote
	// nothing and did not fail, and the others (0: forever). The latest runs of a source are kept.
	LedgerKeepNoop, LedgerKeep time.Duration
	// MetricsDetail: /metrics has, by source, vizjob_jobs per status and the per-request and per-run
	// series; without it those have no source label (a few series a source, for fleets).
	MetricsDetail bool

	// origin records, by variable name, where each setting given explicitly came from: the
	// variable itself (Load) or the flag that overrode it (SetBy). Messages name that origin.
	origin map[string]string

	// Warnings are what Load found acceptable but worth a word in the log: secret files that users
	// other than their owner may read. The commands log them once their logger is built.
	Warnings []string
}

// SetBy records that the setting of variable was given on the command line by flag (for example
// "--per-page"): Validate's messages about it then name the flag, not the variable.
func (c *Config) SetBy(variable, flag string) {
	if c.origin == nil {
		c.origin = make(map[string]string)
	}
	c.origin[variable] = flag
}

// setFrom records that variable was set in the environment (unless a flag already set it).
func (c *Config) setFrom(variable string) {
	if c.origin == nil {
		c.origin = make(map[string]string)
	}
	if c.origin[variable] == "" {
		c.origin[variable] = variable
	}
}

// Origin is what messages call the setting of variable: the flag that set it, else the variable.
func (c *Config) Origin(variable string) string {
	if o := c.origin[variable]; o != "" {
		return o
	}
	return variable
}

// DatabaseURLOrigin names where the database URL came from, as the user typed it: the flag, the
// variable (INDEXER_DATABASE_URL, DATABASE_URL) or its _FILE form; "" when none was given (the libpq
// PG* variables and defaults then apply).
func (c *Config) DatabaseURLOrigin() string {
	if o := c.origin[EnvDatabaseURL]; strings.HasPrefix(o, "-") {
		return o
	}
	for _, name := range []string{EnvDatabaseURL, EnvDatabaseURL + fileSuffix, EnvDatabaseURLAlt, EnvDatabaseURLAlt + fileSuffix} {
		if c.origin[name] != "" {
			return name
		}
	}
	return ""
}

// isSet says whether the setting of variable was given explicitly (environment or flag).
func (c *Config) isSet(variable string) bool { return c.origin[variable] != "" }

// value names a setting with the value given: --flag "v" or VARIABLE="v".
func (c *Config) value(variable, v string) string {
	if o := c.Origin(variable); strings.HasPrefix(o, "-") {
		return fmt.Sprintf("%s %q", o, v)
	}
	return fmt.Sprintf("%s=%q", variable, v)
}

// Load reads the configuration from getenv (os.Getenv in production), every setting as the table
// settings describes it. It does not validate: apply flag overrides, then call Validate.
func Load(getenv func(string) string) (*Config, error) {
	var errs []error
	c := &Config{Sources: make([]Source, 1)}
	for _, name := range Variables() {
		if getenv(name) != "" {
			c.setFrom(name)
		}
	}
	// Every source's settings first (INDEXER_CONFIG among them), then the environment's one source,
	// unless the configuration file replaces it: then its settings are not read.
	for _, perSource := range []bool{false, true} {
		for _, s := range settings {
			if s.PerSource != perSource || (perSource && c.ConfigFile != "") {
				continue
			}
			if err := s.load(c, getenv); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.ConfigFile != "" {
		sources, err := loadFile(c.ConfigFile, getenv)
		c.Sources = sources
		errs = append(errs, err)
	}
	c.Warnings = secretFileWarnings(c, getenv)
	return c, errors.Join(errs...)
}

// load sets the setting's field in c from the environment: its value, else its default.
func (s Setting) load(c *Config, getenv func(string) string) error {
	v, err := s.read(getenv)
	if err != nil {
		return err
	}
	name := s.Variable
	if v == "" && s.Alt != "" {
		name = s.Alt
	}
	if !s.Secret {
		v = strings.TrimSpace(v) // secrets are taken as they are
	}
	bad := func(what string) error { return fmt.Errorf("%s=%q %s", name, v, what) }
	switch dst := s.Field(c).(type) {
	case *string:
		return assign(dst, v, s.def, func(v string) (string, error) { return v, nil })
	case *int:
		if assign(dst, v, s.def, strconv.Atoi) != nil {
			return bad("is not an integer")
		}
	case *float64:
		if assign(dst, v, s.def, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }) != nil {
			return bad("is not " + s.noun)
		}
	case *time.Duration:
		if assign(dst, v, s.def, time.ParseDuration) != nil {
			return bad("is not a duration (examples: 30s, 5m, 24h)")
		}
	case *bool:
		if assign(dst, v, s.def, parseBool) != nil {
			return fmt.Errorf("%s=%q: use true or false", name, v)
		}
	default:
		panic("setting " + s.Variable + ": a field of an unsupported type")
	}
	return nil
}

// assign sets *dst to parse(v), or to def (the zero value when def is nil) when v is empty.
func assign[T any](dst *T, v string, def any, parse func(string) (T, error)) error {
	if v == "" {
		*dst, _ = def.(T)
		return nil
	}
	x, err := parse(v)
	if err != nil {
		return err
	}
	*dst = x
	return nil
}

// read returns the setting's text: its variable, or the file its _FILE form names for a secret, else
// the same of its alternative variable.
func (s Setting) read(getenv func(string) string) (string, error) {
	for _, name := range []string{s.Variable, s.Alt} {
		if name == "" {
			continue
		}
		if !s.Secret {
			if v := getenv(name); v != "" {
				return v, nil
			}
			continue
		}
		v, err := readSecret(getenv, name)
		if v != "" || err != nil {
			return v, err
		}
	}
	return "", nil
}

// parseBool accepts what strconv.ParseBool does, and yes/no, on/off.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return strconv.ParseBool(v)
}

// readSecret returns the variable's value, or the content of the file named by
// NAME_FILE (trailing newlines removed). Setting both is an error.
func readSecret(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+fileSuffix)
	switch {
	case file == "":
		return v, nil
	case v != "":
		return "", fmt.Errorf("both %s and %s are set: keep one", name, name+fileSuffix)
	}
	b, err := readSecretFile(file)
	if err != nil {
		// The error names the file, never its content.
		return "", fmt.Errorf("%s: cannot read the secret file: %w", name+fileSuffix, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// MaxSecretFileBytes caps what a secret file (*_FILE, {file: PATH}) may hold: one key, password or
// database URL. A larger file is refused rather than read into memory (a wrong path such as a log
// file or a device).
const MaxSecretFileBytes = 64 << 10

// secretPipeWait bounds how long a secret file that is a named pipe is read.
const secretPipeWait = 5 * time.Second

// readSecretFile reads at most MaxSecretFileBytes of path; a larger file is an error that says so.
// A named pipe (a FIFO, or bash's <(...)) is opened without waiting for a writer and read for at
// most secretPipeWait: one that nothing writes to is an error, not a start-up that hangs.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pipe := fi.Mode()&fs.ModeNamedPipe != 0
	if pipe {
		_ = f.SetReadDeadline(time.Now().Add(secretPipeWait))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("a named pipe (FIFO) whose writer wrote no end within %s", secretPipeWait)
	}
	if err != nil {
		return nil, err
	}
	if pipe && len(b) == 0 {
		return nil, errors.New("a named pipe (FIFO) with nothing written to it: a secret file is a plain file, or a pipe something writes the secret to")
	}
	if len(b) > MaxSecretFileBytes {
		return nil, fmt.Errorf("the file is larger than %d KiB, the most a secret file may hold (is it the right file?)", MaxSecretFileBytes>>10)
	}
	return b, nil
}

// domainFor returns the DNS suffix of a region (ap-southeast-1 is served under .cn).
func domainFor(region string) string {
	if region == "ap-southeast-1" {
		return "myhuaweicloud.cn"
	}
	return "myhuaweicloud.com"
}

// Validate fills derived values (endpoints from the region, the source name,
// page sizes) and reports every problem at once, naming the variable to set.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("no source configured: set "+EnvProjectID+" and credentials"))
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if !s.file { // the environment's source, or one a command built: messages name what set each setting
			s.origin = c.origin
		}
		errs = append(errs, s.validate(c.AllowInsecureHTTP))
	}
	errs = append(errs, c.ValidateBase())
	names := map[string]int{}
	for _, s := range c.Sources {
		if s.Name == "" {
			continue
		}
		if prev, dup := names[s.Name]; dup {
			errs = append(errs, fmt.Errorf("source %s: defined twice (lines %d and %d of %s): source names must be unique",
				s.Name, prev, s.line, c.ConfigFile))
		}
		names[s.Name] = s.line
	}
	return errors.Join(errs...)
}

// ValidateBase checks the settings every source shares and those of the process (database, logs,
// the daemon), without any source: Validate without the sources, for commands that reach none
// (indexer migrate).
func (c *Config) ValidateBase() error {
	var errs []error
	for _, st := range settings {
		if st.check == nil || st.PerSource {
			continue
		}
		if err := st.check(c, c.Origin(st.Variable)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
