package syncer

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
)

// Runner is one configured source, ready to sync: its ModelArts client and the options of its runs,
// both built here from the configuration, so that `indexer sync` is one tick of what the daemon runs.
type Runner struct {
	Name     string
	Client   *fetch.Client
	opts     Options
	settings store.SourceSettings // recorded at each run, for the view modelarts.sources
}

// Hooks are what a caller adds to a source's runs besides the configuration.
type Hooks struct {
	HTTPClient *http.Client     // nil: a new one
	OnResponse func(status int) // each HTTP attempt's status (0: no answer), for metrics
	Progress   func(p Progress) // a terminal's progress line
	Logger     *slog.Logger     // nil: discard
	Adjust     func(o *Options) // last word on the options (a test, --allow-mass-delete)
}

// NewRunner builds the client and the run options of source src of cfg (validated).
func NewRunner(cfg *config.Config, src config.Source, h Hooks) (*Runner, error) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := fetch.New(fetch.Config{
		Endpoint:          src.Endpoint,
		ProjectID:         src.ProjectID,
		AK:                src.AK,
		SK:                src.SK,
		SecurityToken:     src.SecurityToken,
		Username:          src.Username,
		Password:          src.Password,
		DomainName:        src.DomainName,
		IAMEndpoint:       src.IAMEndpoint,
		MaxPerPage:        src.MaxPerPage,
		WorkspaceID:       src.WorkspaceID,
		MaxAttempts:       cfg.MaxAttempts,
		RequestTimeout:    cfg.RequestTimeout,
		RateLimit:         cfg.RateLimit,
		MaxRateLimit:      cfg.MaxRateLimit,
		AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		RunTimeoutSetting: cfg.Origin(config.EnvRunTimeout),
		MaxRateSetting:    cfg.Origin(config.EnvMaxRateLimit),
		HTTPClient:        h.HTTPClient,
		OnResponse:        h.OnResponse,
		Logger:            log.With("source", src.Name),
	})
	if err != nil {
		return nil, err
	}
	opts := Options{
		Source:            src.Name,
		PerPage:           src.PerPage,
		PerPageSetting:    src.PerPageSetting(),
		MaxWalks:          cfg.MaxWalks,
		MaxDeleteShare:    cfg.MaxDeleteShare,
		MaxDeleteMin:      cfg.MaxDeleteMin,
		SeenRefresh:       cfg.SeenRefresh,
		Timeout:           cfg.RunTimeout,
		PageConcurrency:   cfg.PageConcurrency,
		MaxBufferBytes:    int64(cfg.PageBufferMiB) << 20,
		DeleteCheckBudget: cfg.DeleteCheckBudget,
		DeleteCheckTime:   cfg.DeleteCheckTime,
		RateLimit:         cfg.RateLimit,
		Progress:          h.Progress,
		Logger:            log,
	}
	if h.Adjust != nil {
		h.Adjust(&opts)
	}
	settings := store.SourceSettings{Source: src.Name, ProjectID: src.ProjectID, Region: src.Region,
		Endpoint: withoutUserinfo(src.Endpoint), AuthMode: src.AuthMode(), WorkspaceID: src.WorkspaceID,
		FullSchedule: src.Schedule, HeadSchedule: cfg.HeadSchedule}
	return &Runner{Name: src.Name, Client: client, opts: opts, settings: settings}, nil
}

// withoutUserinfo drops any user name or password from a URL.
func withoutUserinfo(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.User == nil {
		return endpoint
	}
	u.User = nil
	return u.String()
}

// Run runs one sync of the source, of kind store.KindFull or store.KindHead.
func (r *Runner) Run(ctx context.Context, st *store.Store, kind string) (Result, error) {
	opts := r.opts
	opts.Kind = kind
	// What BI tools see of the source's settings (modelarts.sources); a failure here does not stop the
	// run, which reports the database's state itself.
	if err := st.RecordSourceSettings(ctx, r.settings); err != nil && opts.Logger != nil {
		opts.Logger.Warn("cannot record the source's settings", "source", r.Name, "error", err)
	}
	return Sync(ctx, r.Client, st, opts)
}

// Options returns the options of the source's runs (for a test).
func (r *Runner) Options() Options { return r.opts }
