// Package simulator is a faithful fake of the ModelArts visualization-job list API and of IAM's token API, for tests, the demo and docker compose.
//
// A Simulator holds its jobs, issued tokens and request statistics in memory
// behind one mutex. Handler serves:
//
//	POST /v3/auth/tokens                                  IAM password authentication
//	GET  /v1/{project_id}/visualization-jobs              the list call
//	GET  /v1/{project_id}/visualization-jobs/{job_id}     the detail call
//
// Both ModelArts calls accept AK/SK-signed requests (SDK-HMAC-SHA256, verified
// as the API gateway does, with its five-failure lockout) and IAM tokens
// (X-Auth-Token). Tests read and change the state through Jobs, CreateJob,
// SetStatus, UpdateJob, DeleteJob, ExpireTokens and Stats.
package simulator

import (
	"cmp"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

// Default credentials and limits, documented by the CLI.
const (
	DefaultProjectID  = "0123456789abcdef0123456789abcdef"
	DefaultAK         = "SIMULATORACCESSKEY01"
	DefaultSK         = "simulator-secret-key"
	DefaultUsername   = "sim-user"
	DefaultPassword   = "sim-password"
	DefaultDomainName = "sim-domain"
	// DefaultRegion is the project name IAM reports for the scoped project.
	DefaultRegion     = "cn-north-4"
	DefaultMaxPerPage = 100
	DefaultTokenTTL   = 24 * time.Hour
)

// Generated jobs are created over the year before Options.Epoch, which
// defaults to now (Options.Now, else the first simulator the process made),
// so that a demo started on any day has jobs created in the last days and
// weeks. A seed gives the same jobs relative to the epoch, and the same jobs
// exactly within one process or with a fixed Epoch.
var processEpoch = sync.OnceValue(func() time.Time { return time.Now().UTC().Truncate(time.Second) })

// Gateway behaviour the simulator reproduces.
const (
	maxClockSkew    = 15 * time.Minute
	lockAfter       = 5 // failed AK/SK authentications in a row
	lockFor         = 5 * time.Minute
	maxSearchRunes  = 100
	jobQuota        = 999 // job_count_limit is jobQuota minus the jobs that exist
	maxRequestLog   = 10000
	defaultPerPage  = 10
	defaultPage     = 1
	defaultSortKey  = fetch.SortJobName
	createTimeDrift = 60_000 // CreateJob: at most this many ms after the latest job
)

// Options configures a Simulator. Zero fields take the Default* values.
type Options struct {
	Jobs int   // jobs generated at start (0: none)
	Seed int64 // seed of the generator: the same seed always gives the same jobs

	ProjectID string
	AK        string
	SK        string
	// SecurityToken, when set, must be sent (and signed) as X-Security-Token
	// by AK/SK requests, as with temporary credentials.
	SecurityToken string
	Username      string
	Password      string
	DomainName    string

	MaxPerPage int           // largest accepted per_page
	TokenTTL   time.Duration // lifetime of IAM tokens
	Epoch      time.Time     // generated create_time values fall in the year before it; default Now()
	Now        func() time.Time
	Logger     *slog.Logger

	// Churn is the mean number of random mutations (create, delete, status
	// change) applied after each list request; see churn.go and SetChurn.
	Churn float64

	// Faults are the gateway faults injected from the start; see faults.go
	// and SetFaults. Invalid faults are logged and none is injected.
	Faults Faults

	// Dialect is how the simulator answers what the documentation leaves
	// open (dialect.go). Invalid values are logged and the defaults used.
	Dialect Dialect

	// Latency delays every answer of the list and detail calls by this
	// much, as a distant server would (requests wait concurrently).
	Latency time.Duration

	// Quota throttles ModelArts calls per credential (quota.go); zero: none.
	Quota Quota
}

func (o Options) withDefaults() Options {
	o.ProjectID = cmp.Or(o.ProjectID, DefaultProjectID)
	o.AK = cmp.Or(o.AK, DefaultAK)
	o.SK = cmp.Or(o.SK, DefaultSK)
	o.Username = cmp.Or(o.Username, DefaultUsername)
	o.Password = cmp.Or(o.Password, DefaultPassword)
	o.DomainName = cmp.Or(o.DomainName, DefaultDomainName)
	if o.MaxPerPage <= 0 {
		o.MaxPerPage = DefaultMaxPerPage
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Epoch.IsZero() && o.Now != nil {
		o.Epoch = o.Now().UTC().Truncate(time.Second)
	} else if o.Epoch.IsZero() {
		o.Epoch = processEpoch() // one per process: simulators of the same seed hold the same jobs
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Simulator is the fake service. Every method is safe for concurrent use.
type Simulator struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	jobs      []*JobState // sorted by ID
	byID      map[int64]*JobState
	maxID     int64 // largest id ever issued, deleted jobs included
	maxCreate int64 // latest create_time ever issued
	rng       *rand.Rand
	sorted    map[string][]*JobState // cached orders, cleared by every change
	tokens    map[string]*token
	akFails   int       // failed AK/SK authentications in a row for opts.AK
	akLocked  time.Time // opts.AK is refused until then
	stats     Stats
	churn     churnState // see churn.go

	transitions []Transition // see transitions.go

	faultState faultState // see faults.go; its own mutex
	quota      quotaState // see quota.go; its own mutex
}

type token struct {
	expiresAt time.Time
	expired   bool // set by ExpireTokens
}

// Auth modes recorded in RequestLog.Auth.
const (
	AuthNone     = "none"     // neither an AK/SK signature nor a token
	AuthAKSK     = "aksk"     // Authorization: SDK-HMAC-SHA256 ...
	AuthToken    = "token"    // X-Auth-Token
	AuthPassword = "password" // POST /v3/auth/tokens
)

// RequestLog records one request the simulator answered.
type RequestLog struct {
	Method   string
	Path     string
	RawQuery string
	Status   int    // HTTP status answered; 0 when the connection was reset (faults.go)
	Auth     string // one of the Auth* constants, from the request's headers
}

// Query parses RawQuery.
func (r RequestLog) Query() url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// Stats counts what the simulator has answered since New or ResetStats.
type Stats struct {
	ListRequests   int // GET .../visualization-jobs, whatever the answer
	DetailRequests int // GET .../visualization-jobs/{job_id}, whatever the answer
	TokenRequests  int // POST /v3/auth/tokens, whatever the answer
	AuthFailures   int // answers with HTTP 401, on any endpoint
	// Requests lists every request in arrival order (the most recent
	// 10000 only, so a long-running demo does not grow without bound).
	Requests []RequestLog
}

// New builds a simulator holding opts.Jobs generated jobs.
func New(opts Options) *Simulator {
	opts = opts.withDefaults()
	s := &Simulator{
		opts:   opts,
		log:    opts.Logger,
		byID:   make(map[int64]*JobState),
		rng:    rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed_7e4b_0a4d_0001)),
		sorted: make(map[string][]*JobState),
		tokens: make(map[string]*token),
		churn:  newChurn(opts),
	}
	for _, j := range generate(s.rng, opts.Jobs, opts.Epoch, opts.ProjectID) {
		s.add(j)
	}
	if err := opts.Dialect.Validate(); err != nil {
		s.log.Error("simulator: dialect ignored", "error", err)
		s.opts.Dialect = Dialect{}
	}
	s.SetQuota(opts.Quota)
	if err := s.SetFaults(opts.Faults); err != nil {
		s.log.Error("simulator: faults ignored", "error", err)
		_ = s.SetFaults(Faults{})
	}
	return s
}

// add stores j, which must have the largest id so far. Callers hold s.mu
// (or own s exclusively).
func (s *Simulator) add(j *JobState) {
	s.jobs = append(s.jobs, j)
	s.byID[j.ID] = j
	s.maxID = max(s.maxID, j.ID)
	s.maxCreate = max(s.maxCreate, j.CreateTime)
	clear(s.sorted)
}

// Jobs returns every current job sorted by job_id; Raw is exactly the object
// the list call serves for it.
func (s *Simulator) Jobs() []fetch.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]fetch.Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.job()
	}
	return out
}

// Job returns one current job.
func (s *Simulator) Job(id int64) (fetch.Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.byID[id]
	if !ok {
		return fetch.Job{}, false
	}
	return j.job(), true
}

// CreateJob adds a job, as a user submitting one would: its id is larger than
// any id ever issued and its create_time a little after the latest one. It
// starts in status 1 (JOBSTAT_INIT) with no duration.
func (s *Simulator) CreateJob() fetch.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.maxID + 1 + s.rng.Int64N(5)
	j := buildJob(s.rng, id, s.newCreateTimeLocked(), 1, 0, s.opts.ProjectID)
	s.add(j)
	s.noteStatusLocked(j.ID, -1, j.Status)
	return j.job()
}

// DeleteJob removes a job; it reports whether the job existed.
func (s *Simulator) DeleteJob(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(id)
}

// SetStatus changes a job's status, adds addDuration to its duration and sets
// or clears its service_url as the status requires (set while the
// TensorBoard is being served: running, killing, scaling). It reports whether
// the job exists.
func (s *Simulator) SetStatus(id int64, status int, addDuration time.Duration) bool {
	return s.UpdateJob(id, func(j *JobState) {
		j.Status = status
		j.Duration += addDuration.Milliseconds()
		j.ServiceURL = serviceURL(s.opts.ProjectID, j.ID, status)
	})
}

// UpdateJob lets fn edit a job in place; it reports whether the job exists.
// fn runs under the simulator's lock, so it must not call the simulator. A
// change of ID is undone: ids are the key.
func (s *Simulator) UpdateJob(id int64, fn func(*JobState)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.byID[id]
	if !ok {
		return false
	}
	from := j.Status
	fn(j)
	j.ID = id
	s.noteStatusLocked(id, from, j.Status)
	s.maxCreate = max(s.maxCreate, j.CreateTime)
	clear(s.sorted)
	return true
}

// ExpireTokens makes every token issued so far answer 401 ModelArts.0202.
// Tokens issued afterwards are valid.
func (s *Simulator) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.expired = true
	}
}

// Stats returns a copy of the counters and the request log.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = slices.Clone(s.stats.Requests)
	return st
}

// ResetStats zeroes the counters and empties the request log.
func (s *Simulator) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}
