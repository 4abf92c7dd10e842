package fetch

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Authentication modes reported by Client.AuthMode.
const (
	AuthAKSK  = "aksk"
	AuthToken = "token"
)

const userAgent = "vizjob-indexer"

// Defaults of Config and WalkOptions. The indexer's settings (internal/config) take them as theirs.
const (
	DefaultPerPage        = 100  // page size of a walk: the largest every version of the API documents
	DefaultMaxPerPage     = 100  // Config.MaxPerPage
	MaxPerPageLimit       = 1000 // the largest per_page any version of the API accepts
	DefaultMaxAttempts    = 5
	DefaultRequestTimeout = 30 * time.Second
)

// ConfigError is a Config that New refuses: Field names the field of Config, Reason what is wrong.
// The indexer's configuration (internal/config) checks the same rules first and words them for its
// users, so it never builds such a Config: this guards other callers (tests, tools).
type ConfigError struct {
	Field  string // e.g. "Endpoint", "MaxPerPage", "SK"
	Reason string
}

func (e *ConfigError) Error() string { return "fetch: " + e.Reason }

func configError(field, format string, a ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Config configures a Client. Zero values take the defaults given per field.
// AK/SK authentication wins when both AK/SK and username/password are set.
type Config struct {
	Endpoint  string // ModelArts base URL, e.g. https://modelarts.cn-north-4.myhuaweicloud.com
	ProjectID string

	AK, SK        string // access key / secret key: signed requests
	SecurityToken string // with temporary AK/SK only

	Username, Password, DomainName string // IAM user: token authentication
	WorkspaceID                    string // workspace_id of every list call whose Query has none; "": the API's default
	IAMEndpoint                    string // IAM base URL, e.g. https://iam.cn-north-4.myhuaweicloud.com

	HTTPClient     *http.Client  // nil: a new client; redirects are never followed (see RedirectError)
	MaxPerPage     int           // largest per_page accepted, default DefaultMaxPerPage (at most MaxPerPageLimit)
	MaxSearchLen   int           // longest search_content in runes, default 100
	MaxAttempts    int           // requests per call, retries included, default DefaultMaxAttempts
	BaseBackoff    time.Duration // first retry waits up to this, default 500ms
	MaxBackoff     time.Duration // cap of one backoff wait, default 30s
	MaxRetryAfter  time.Duration // longest Retry-After honoured, default 2m; a longer one ends the call
	RequestTimeout time.Duration // per attempt, default DefaultRequestTimeout
	MaxBodyBytes   int64         // largest answer read, default 32 MiB
	RateLimit      float64       // requests per second to ModelArts at first (retries included), 0 = unlimited
	// MaxRateLimit is the ceiling of the adaptive rate (ratelimit.go): the rate grows from RateLimit
	// while requests succeed, up to this, and backs off on a 429. At most RateLimit (the default):
	// the rate never grows above RateLimit, but still backs off on a 429.
	MaxRateLimit float64
	Logger       *slog.Logger // nil: discard

	// RunTimeoutSetting and MaxRateSetting name, in the caller's users' words (a flag, a variable), the
	// settings behind the deadline of a caller's context and MaxRateLimit, for a *DeadlineError to say
	// what to raise; empty: described without a name.
	RunTimeoutSetting, MaxRateSetting string

	// AllowInsecureHTTP accepts http:// endpoints on other hosts than loopback. Without it, New refuses
	// them: the signature, the token and the IAM password would travel in clear text.
	AllowInsecureHTTP bool

	// OnResponse, if set, is called once per HTTP attempt (ModelArts and IAM, retries included) with the
	// status answered, or 0 when no answer came (network error, timeout): a hook for metrics.
	OnResponse func(status int)

	Now   func() time.Time                                 // test hook, default time.Now
	Sleep func(ctx context.Context, d time.Duration) error // test hook, default a timer that honours ctx
}

// String prints the configuration without its secrets.
func (cfg Config) String() string {
	return fmt.Sprintf("fetch.Config{Endpoint:%q ProjectID:%q AK:%q SK:%s SecurityToken:%s Username:%q Password:%s DomainName:%q IAMEndpoint:%q}",
		cfg.Endpoint, cfg.ProjectID, cfg.AK, redacted(cfg.SK), redacted(cfg.SecurityToken),
		cfg.Username, redacted(cfg.Password), cfg.DomainName, cfg.IAMEndpoint)
}

// GoString prints the configuration without its secrets.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue logs the configuration without its secrets.
func (cfg Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", cfg.Endpoint),
		slog.String("project_id", cfg.ProjectID),
		slog.String("ak", cfg.AK),
		slog.String("username", cfg.Username),
		slog.String("domain_name", cfg.DomainName),
		slog.String("iam_endpoint", cfg.IAMEndpoint),
	)
}

func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[redacted]"
}

func (cfg Config) withDefaults() Config {
	cfg.Endpoint = strings.TrimRight(strings.TrimSpace(cfg.Endpoint), "/")
	cfg.IAMEndpoint = strings.TrimSuffix(strings.TrimRight(strings.TrimSpace(cfg.IAMEndpoint), "/"), "/v3")
	cfg.ProjectID = strings.TrimSpace(cfg.ProjectID)
	cfg.Username = strings.TrimSpace(cfg.Username)
	cfg.DomainName = strings.TrimSpace(cfg.DomainName)
	cfg.MaxPerPage = cmp.Or(cfg.MaxPerPage, DefaultMaxPerPage)
	cfg.MaxSearchLen = cmp.Or(cfg.MaxSearchLen, 100)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.BaseBackoff = cmp.Or(cfg.BaseBackoff, 500*time.Millisecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, 30*time.Second)
	cfg.MaxRetryAfter = cmp.Or(cfg.MaxRetryAfter, 2*time.Minute)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 32<<20)
	cfg.HTTPClient = noRedirects(cfg.HTTPClient)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return cfg
}

// validate checks a configuration that went through withDefaults.
func (cfg Config) validate() error {
	if cfg.Endpoint == "" {
		return configError("Endpoint", "endpoint is empty")
	}
	if err := checkBaseURL("Endpoint", "endpoint", cfg.Endpoint, cfg.AllowInsecureHTTP); err != nil {
		return err
	}
	if cfg.ProjectID == "" {
		return configError("ProjectID", "project id is empty")
	}
	if err := cfg.validateLimits(); err != nil {
		return err
	}
	mode, err := cfg.authMode()
	if err != nil {
		return err
	}
	if mode == AuthToken {
		if cfg.IAMEndpoint == "" {
			return configError("IAMEndpoint", "IAM endpoint is empty (needed for username/password authentication)")
		}
		return checkBaseURL("IAMEndpoint", "IAM endpoint", cfg.IAMEndpoint, cfg.AllowInsecureHTTP)
	}
	return nil
}

func (cfg Config) validateLimits() error {
	switch {
	case cfg.MaxPerPage < 1 || cfg.MaxPerPage > MaxPerPageLimit:
		return configError("MaxPerPage", "max per page %d is out of range 1..%d", cfg.MaxPerPage, MaxPerPageLimit)
	case cfg.MaxSearchLen < 1:
		return configError("MaxSearchLen", "max search length %d is not positive", cfg.MaxSearchLen)
	case cfg.MaxAttempts < 1:
		return configError("MaxAttempts", "max attempts %d is not positive", cfg.MaxAttempts)
	case cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxRetryAfter < 0:
		return configError("BaseBackoff", "backoff durations must not be negative")
	case cfg.BaseBackoff > cfg.MaxBackoff:
		return configError("BaseBackoff", "base backoff %s exceeds max backoff %s", cfg.BaseBackoff, cfg.MaxBackoff)
	case cfg.RequestTimeout < 0:
		return configError("RequestTimeout", "request timeout %s is negative", cfg.RequestTimeout)
	case cfg.MaxBodyBytes < 1:
		return configError("MaxBodyBytes", "max body bytes %d is not positive", cfg.MaxBodyBytes)
	case cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit):
		return configError("RateLimit", "rate limit %v is not a non-negative number of requests per second", cfg.RateLimit)
	case cfg.MaxRateLimit < 0 || math.IsNaN(cfg.MaxRateLimit) || math.IsInf(cfg.MaxRateLimit, 1):
		return configError("MaxRateLimit", "max rate limit %v is not a non-negative number of requests per second", cfg.MaxRateLimit)
	}
	return nil
}

// authMode picks AK/SK when both keys are set, else the IAM token, and names
// what is missing when neither is complete.
func (cfg Config) authMode() (string, error) {
	switch {
	case cfg.AK != "" && cfg.SK != "":
		return AuthAKSK, nil
	case cfg.AK != "":
		return "", configError("SK", "AK is set but SK is empty")
	case cfg.SK != "":
		return "", configError("AK", "SK is set but AK is empty")
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"username", cfg.Username}, {"password", cfg.Password}, {"domain name", cfg.DomainName},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	switch len(missing) {
	case 0:
		return AuthToken, nil
	case 3:
		return "", configError("AK", "no credentials: set AK and SK, or username, password and domain name")
	}
	return "", configError("Username", "token authentication needs username, password and domain name: %s missing",
		strings.Join(missing, " and "))
}

func checkBaseURL(field, name, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return configError(field, "%s %q is not an http(s) base URL", name, raw)
	}
	if u.Scheme == "http" && !allowHTTP && !IsLoopback(u.Hostname()) {
		return configError(field, "%s %q: plain http to a host other than loopback would send credentials in clear text (use https, or AllowInsecureHTTP)", name, raw)
	}
	return nil
}

// IsLoopback says whether host is localhost or a loopback address (127.0.0.0/8, ::1): nothing sent
// to it crosses a network, so plain http to it is accepted.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client calls the ModelArts visualization-job API. It is safe for
// concurrent use.
type Client struct {
	cfg     Config
	mode    string
	signer  Signer
	limiter *adaptiveRate // nil: unlimited
	log     *slog.Logger
	tokens  *tokenCache // nil under AK/SK
}

var _ Lister = (*Client)(nil)

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mode, _ := cfg.authMode()
	c := &Client{cfg: cfg, mode: mode, log: cfg.Logger}
	if mode == AuthAKSK {
		c.signer = Signer{AK: cfg.AK, SK: cfg.SK}
	} else {
		c.tokens = newTokenCache()
	}
	if cfg.RateLimit > 0 {
		c.limiter = newAdaptiveRate(cfg.RateLimit, cfg.MaxRateLimit)
	}
	return c, nil
}

// Rate returns the request rate the client has settled at, in requests per
// second; 0 when it is unlimited.
func (c *Client) Rate() float64 {
	if c.limiter == nil {
		return 0
	}
	return c.limiter.Rate()
}

// AuthMode returns "aksk" or "token".
func (c *Client) AuthMode() string { return c.mode }

// String describes the client without its secrets.
func (c *Client) String() string {
	return fmt.Sprintf("fetch.Client{endpoint:%s project:%s auth:%s}", c.cfg.Endpoint, c.cfg.ProjectID, c.mode)
}

// GoString describes the client without its secrets.
func (c *Client) GoString() string { return c.String() }

// ListPage fetches and decodes one page of the list call. It validates q
// before sending (errors wrap ErrBadInput) and retries transient failures,
// including a 2xx answer whose body is not JSON at all (cut short, or a
// gateway's HTML page). An answer with is_success false is an *APIError.
// The requests are counted by the Meter of ctx (KindSearch when q has
// SearchContent, else KindList).
func (c *Client) ListPage(ctx context.Context, q Query) (*Page, error) {
	if err := c.checkQuery(q); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	kind := KindList
	if q.SearchContent != "" {
		kind = KindSearch
	}
	var p *Page
	err := c.get(ctx, kind, c.jobsPath(), c.listParams(q), func(body []byte) (err error) {
		p, err = DecodePage(body)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return p, nil
}

// GetJob fetches one job with the detail call. A missing job is an *APIError
// matching ErrNotFound.
func (c *Client) GetJob(ctx context.Context, jobID int64) (*Job, error) {
	if jobID < 0 {
		return nil, fmt.Errorf("get job %d: %w", jobID, inputError("job id is negative"))
	}
	var job *Job
	err := c.get(ctx, KindDetail, c.jobsPath()+"/"+strconv.FormatInt(jobID, 10), nil, func(body []byte) (err error) {
		job, err = decodeDetail(body)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", jobID, err)
	}
	return job, nil
}

// sortKeys are the keys the list call documents.
var sortKeys = []string{SortJobName, SortJobDesc, SortStatus, SortDuration, SortCreateTime, SortLogDir, SortJobID}

// inputError is a query rejected before sending; it matches ErrBadInput.
type inputError string

func (e inputError) Error() string { return string(e) }
func (e inputError) Unwrap() error { return ErrBadInput }

func badInput(format string, args ...any) error { return inputError(fmt.Sprintf(format, args...)) }

func (c *Client) checkQuery(q Query) error {
	n := utf8.RuneCountInString(q.SearchContent)
	switch {
	case q.Page < 1 && !q.OmitPage:
		return badInput("page %d is out of range: want 1 or more", q.Page)
	case q.PerPage < 1 || q.PerPage > c.cfg.MaxPerPage:
		return badInput("per_page %d is out of range 1..%d", q.PerPage, c.cfg.MaxPerPage)
	case q.Order != "" && q.Order != "asc" && q.Order != "desc":
		return badInput("order %q is not one of asc, desc", q.Order)
	case q.SortBy != "" && !slices.Contains(sortKeys, q.SortBy):
		return badInput("sort key %q is not one of %s", q.SortBy, strings.Join(sortKeys, ", "))
	case q.Status != nil && *q.Status < 0:
		return badInput("status %d is negative", *q.Status)
	case !utf8.ValidString(q.SearchContent):
		return badInput("search_content is not valid UTF-8")
	case n > c.cfg.MaxSearchLen:
		return badInput("search_content has %d characters; at most %d allowed", n, c.cfg.MaxSearchLen)
	}
	return nil
}

func (c *Client) jobsPath() string {
	return "/v1/" + url.PathEscape(c.cfg.ProjectID) + "/visualization-jobs"
}

// listParams spells the sort key sortBy under AK/SK and sort_by under a
// token, as the SDK reference says.
func (c *Client) listParams(q Query) url.Values {
	v := url.Values{}
	if !q.OmitPage {
		v.Set("page", strconv.Itoa(q.Page))
	}
	v.Set("per_page", strconv.Itoa(q.PerPage))
	if q.Status != nil {
		v.Set("status", strconv.Itoa(*q.Status))
	}
	if q.SortBy != "" {
		if c.mode == AuthAKSK {
			v.Set("sortBy", q.SortBy)
		} else {
			v.Set("sort_by", q.SortBy)
		}
	}
	if q.Order != "" {
		v.Set("order", q.Order)
	}
	if q.SearchContent != "" {
		v.Set("search_content", q.SearchContent)
	}
	if w := cmp.Or(q.WorkspaceID, c.cfg.WorkspaceID); w != "" {
		v.Set("workspace_id", w)
	}
	return v
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
