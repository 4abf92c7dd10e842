// Package config loads and validates the indexer's configuration: one source
// from the environment (the variables of SPEC.md), secrets optionally read from
// files (*_FILE). Nothing outside this package reads the environment.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variable names: the public contract of SPEC.md.
const (
	EnvDatabaseURL      = "INDEXER_DATABASE_URL"
	EnvDatabaseURLAlt   = "DATABASE_URL"
	EnvEndpoint         = "MODELARTS_ENDPOINT"
	EnvRegion           = "MODELARTS_REGION"
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
	fileSuffix          = "_FILE"
	DefaultSchedule     = "*/5 * * * *"
	DefaultPerPage      = 100
	DefaultMaxWalks     = 3
	DefaultDeleteShare  = 0.5
	DefaultDeleteMin    = 10
	DefaultAttempts     = 5
	DefaultTimeout      = 30 * time.Second
	DefaultSeenRefresh  = 24 * time.Hour
	defaultEndpointTmpl = "https://modelarts.%s.%s"
	defaultIAMTmpl      = "https://iam.%s.%s"
)

// Source is one ModelArts project in one region to mirror.
type Source struct {
	Name          string // name in the database (sync_runs.source, visualization_jobs.source)
	Endpoint      string // ModelArts base URL
	Region        string
	ProjectID     string
	AK, SK        string
	SecurityToken string
	Username      string
	Password      string
	DomainName    string
	IAMEndpoint   string
	Schedule      string // cron expression for `indexer run`
	PerPage       int    // page size of a walk
	MaxPerPage    int    // largest per_page the endpoint accepts
}

// AuthMode is "aksk" when AK/SK is set, else "token".
func (s Source) AuthMode() string {
	if s.AK != "" || s.SK != "" {
		return "aksk"
	}
	return "token"
}

// String never prints a secret.
func (s Source) String() string {
	return fmt.Sprintf("source %q (project %s at %s, %s auth)", s.Name, s.ProjectID, s.Endpoint, s.AuthMode())
}

// GoString never prints a secret.
func (s Source) GoString() string { return s.String() }

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
}

// Load reads the configuration from getenv (os.Getenv in production). It does
// not validate: apply flag overrides, then call Validate.
func Load(getenv func(string) string) (*Config, error) {
	var errs []error
	secret := func(name string) string {
		v, err := readSecret(getenv, name)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	intVar := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not an integer", name, v))
		}
		return n
	}
	durVar := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration (examples: 30s, 5m, 24h)", name, v))
		}
		return d
	}
	share := DefaultDeleteShare
	if v := getenv(EnvMaxDeleteShare); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a number between 0 and 1", EnvMaxDeleteShare, v))
		}
		share = f
	}

	c := &Config{
		DatabaseURL:    cmp.Or(secret(EnvDatabaseURL), secret(EnvDatabaseURLAlt)),
		MaxWalks:       intVar(EnvMaxWalks, DefaultMaxWalks),
		MaxDeleteShare: share,
		MaxDeleteMin:   intVar(EnvMaxDeleteMin, DefaultDeleteMin),
		RequestTimeout: durVar(EnvRequestTimeout, DefaultTimeout),
		MaxAttempts:    intVar(EnvMaxAttempts, DefaultAttempts),
		SeenRefresh:    durVar(EnvSeenRefresh, DefaultSeenRefresh),
		LogLevel:       cmp.Or(getenv(EnvLogLevel), "info"),
		LogFormat:      cmp.Or(getenv(EnvLogFormat), "auto"),
	}
	if f := getenv(EnvConfigFile); f != "" {
		errs = append(errs, fmt.Errorf("%s=%s: a file listing several sources is not supported yet; configure one source with the environment variables", EnvConfigFile, f))
	}
	s := Source{
		Name:          getenv(EnvSource),
		Endpoint:      getenv(EnvEndpoint),
		Region:        getenv(EnvRegion),
		ProjectID:     getenv(EnvProjectID),
		AK:            secret(EnvAK),
		SK:            secret(EnvSK),
		SecurityToken: secret(EnvSecurityToken),
		Username:      secret(EnvUsername),
		Password:      secret(EnvPassword),
		DomainName:    getenv(EnvDomainName),
		IAMEndpoint:   getenv(EnvIAMEndpoint),
		Schedule:      getenv(EnvSchedule),
		PerPage:       intVar(EnvPerPage, 0),
		MaxPerPage:    intVar(EnvMaxPerPage, 0),
	}
	c.Sources = []Source{s}
	return c, errors.Join(errs...)
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
	b, err := os.ReadFile(file)
	if err != nil {
		// The error names the file, never its content.
		return "", fmt.Errorf("%s: cannot read the secret file: %w", name+fileSuffix, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
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
		if err := c.Sources[i].validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxWalks < 1 {
		errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", EnvMaxWalks, c.MaxWalks))
	}
	if c.MaxDeleteShare < 0 || c.MaxDeleteShare > 1 {
		errs = append(errs, fmt.Errorf("%s must be between 0 and 1, got %g", EnvMaxDeleteShare, c.MaxDeleteShare))
	}
	if c.MaxDeleteMin < 0 {
		errs = append(errs, fmt.Errorf("%s must not be negative, got %d", EnvMaxDeleteMin, c.MaxDeleteMin))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%s must be positive, got %s", EnvRequestTimeout, c.RequestTimeout))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		errs = append(errs, fmt.Errorf("%s must be between 1 and 20, got %d", EnvMaxAttempts, c.MaxAttempts))
	}
	if c.SeenRefresh < 0 {
		errs = append(errs, fmt.Errorf("%s must not be negative, got %s", EnvSeenRefresh, c.SeenRefresh))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("%s=%q: use debug, info, warn or error", EnvLogLevel, c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("%s=%q: use auto, text or json", EnvLogFormat, c.LogFormat))
	}
	return errors.Join(errs...)
}

func (s *Source) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.ProjectID == "" {
		bad("%s is not set: the ModelArts project id (console: My Credentials > API Credentials)", EnvProjectID)
	}
	if s.Endpoint == "" && s.Region != "" {
		s.Endpoint = fmt.Sprintf(defaultEndpointTmpl, s.Region, domainFor(s.Region))
	}
	if s.Endpoint == "" {
		bad("no ModelArts endpoint: set %s (e.g. https://modelarts.cn-north-4.myhuaweicloud.com) or %s (e.g. cn-north-4)", EnvEndpoint, EnvRegion)
	} else if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("%s=%q is not an http(s) URL", EnvEndpoint, s.Endpoint)
	}
	switch {
	case s.AK != "" || s.SK != "":
		if s.AK == "" {
			bad("%s is set but %s is not: set both", EnvSK, EnvAK)
		}
		if s.SK == "" {
			bad("%s is set but %s is not: set both (or %s)", EnvAK, EnvSK, EnvSK+fileSuffix)
		}
	case s.Username != "" || s.Password != "" || s.DomainName != "":
		if s.Username == "" {
			bad("%s is not set (token authentication needs user, password and account)", EnvUsername)
		}
		if s.Password == "" {
			bad("%s is not set (or %s)", EnvPassword, EnvPassword+fileSuffix)
		}
		if s.DomainName == "" {
			bad("%s is not set: the account (domain) name the IAM user belongs to", EnvDomainName)
		}
		if s.IAMEndpoint == "" && s.Region != "" {
			s.IAMEndpoint = fmt.Sprintf(defaultIAMTmpl, s.Region, domainFor(s.Region))
		}
		if s.IAMEndpoint == "" {
			bad("no IAM endpoint for token authentication: set %s or %s", EnvIAMEndpoint, EnvRegion)
		}
	default:
		bad("no credentials: set %s and %s, or %s, %s and %s", EnvAK, EnvSK, EnvUsername, EnvPassword, EnvDomainName)
	}
	s.Name = cmp.Or(s.Name, s.ProjectID)
	s.Schedule = cmp.Or(s.Schedule, DefaultSchedule)
	s.MaxPerPage = cmp.Or(s.MaxPerPage, DefaultPerPage)
	s.PerPage = cmp.Or(s.PerPage, min(DefaultPerPage, s.MaxPerPage))
	if s.MaxPerPage < 1 || s.MaxPerPage > 1000 {
		bad("%s must be between 1 and 1000, got %d", EnvMaxPerPage, s.MaxPerPage)
	}
	if s.PerPage < 1 || s.PerPage > s.MaxPerPage {
		bad("%s must be between 1 and %d (%s), got %d", EnvPerPage, s.MaxPerPage, EnvMaxPerPage, s.PerPage)
	}
	if len(errs) == 0 {
		return nil
	}
	name := cmp.Or(s.Name, "(unnamed)")
	return fmt.Errorf("source %s: %w", name, errors.Join(errs...))
}
