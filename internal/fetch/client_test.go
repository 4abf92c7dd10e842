package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	base := func() Config {
		return Config{Endpoint: "https://modelarts.cn-north-4.myhuaweicloud.com", ProjectID: testProject, AK: testAK, SK: testSK}
	}
	tokenCfg := func() Config {
		c := base()
		c.AK, c.SK = "", ""
		c.Username, c.Password, c.DomainName = testUser, testPassword, testDomain
		c.IAMEndpoint = "https://iam.cn-north-4.myhuaweicloud.com"
		return c
	}
	tests := []struct {
		name string
		cfg  func() Config
		want string // substring of the error; "" means valid
	}{
		{"aksk valid", base, ""},
		{"token valid", tokenCfg, ""},
		{"empty endpoint", func() Config { c := base(); c.Endpoint = " "; return c }, "fetch: endpoint is empty"},
		{"endpoint without scheme", func() Config { c := base(); c.Endpoint = "modelarts.example.com"; return c }, `endpoint "modelarts.example.com" is not an http(s) base URL`},
		{"empty project", func() Config { c := base(); c.ProjectID = ""; return c }, "fetch: project id is empty"},
		{"no credentials", func() Config { c := base(); c.AK, c.SK = "", ""; return c }, "fetch: no credentials: set AK and SK, or username, password and domain name"},
		{"AK without SK", func() Config { c := base(); c.SK = ""; return c }, "AK is set but SK is empty"},
		{"SK without AK", func() Config { c := base(); c.AK = ""; return c }, "SK is set but AK is empty"},
		{"username only", func() Config { c := tokenCfg(); c.Password, c.DomainName = "", ""; return c }, "password and domain name missing"},
		{"no IAM endpoint", func() Config { c := tokenCfg(); c.IAMEndpoint = ""; return c }, "IAM endpoint is empty"},
		{"bad IAM endpoint", func() Config { c := tokenCfg(); c.IAMEndpoint = "ftp://iam"; return c }, "IAM endpoint"},
		{"per page too large", func() Config { c := base(); c.MaxPerPage = 5000; return c }, "max per page 5000 is out of range 1..1000"},
		{"negative attempts", func() Config { c := base(); c.MaxAttempts = -1; return c }, "max attempts -1"},
		{"base over max backoff", func() Config { c := base(); c.BaseBackoff = time.Minute; return c }, "base backoff 1m0s exceeds max backoff 30s"},
		{"negative rate", func() Config { c := base(); c.RateLimit = -2; return c }, "rate limit -2"},
		{"negative body cap", func() Config { c := base(); c.MaxBodyBytes = -1; return c }, "max body bytes -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
			if err != nil {
				assertNoSecrets(t, err.Error())
				if ce := (*ConfigError)(nil); !errors.As(err, &ce) || ce.Field == "" {
					t.Errorf("New error %v is not a *ConfigError naming a field", err)
				}
			}
		})
	}
}

func TestAuthModeAKSKWins(t *testing.T) {
	c, err := New(Config{
		Endpoint: "https://modelarts.example.com", ProjectID: testProject, AK: testAK, SK: testSK,
		Username: testUser, Password: testPassword, DomainName: testDomain, IAMEndpoint: "https://iam.example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AuthMode(); got != AuthAKSK {
		t.Fatalf("AuthMode = %q, want aksk", got)
	}
	c, err = New(Config{Endpoint: "https://modelarts.example.com", ProjectID: testProject,
		Username: testUser, Password: testPassword, DomainName: testDomain, IAMEndpoint: "https://iam.example.com/v3/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AuthMode(); got != AuthToken {
		t.Fatalf("AuthMode = %q, want token", got)
	}
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{testSK, testSecToken, testPassword} {
		if strings.Contains(s, secret) {
			t.Errorf("secret %q leaked in %q", secret, s)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := Config{
		Endpoint: "https://modelarts.example.com", ProjectID: testProject, AK: testAK, SK: testSK,
		SecurityToken: testSecToken, Username: testUser, Password: testPassword, DomainName: testDomain,
		IAMEndpoint: "https://iam.example.com",
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg, "client", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg, "client", c)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.signer.String(),
		fmt.Sprintf("%v", newTokenCache()), logs.String(),
	} {
		assertNoSecrets(t, s)
	}
	if !strings.Contains(cfg.String(), "SK:[redacted]") {
		t.Errorf("Config.String = %s, want the SK shown as redacted", cfg)
	}
}

func intp(n int) *int { return &n }

func TestListPageQueryParameters(t *testing.T) {
	tests := []struct {
		name  string
		q     Query
		aksk  map[string]string // expected parameters under AK/SK
		token map[string]string // under token authentication
	}{
		{
			name:  "only paging",
			q:     Query{Page: 1, PerPage: 100},
			aksk:  map[string]string{"page": "1", "per_page": "100"},
			token: map[string]string{"page": "1", "per_page": "100"},
		},
		{
			name:  "every parameter",
			q:     Query{Page: 3, PerPage: 50, SortBy: SortCreateTime, Order: "desc", Status: intp(0), SearchContent: "my job 测试", WorkspaceID: "0"},
			aksk:  map[string]string{"page": "3", "per_page": "50", "sortBy": "create_time", "order": "desc", "status": "0", "search_content": "my job 测试", "workspace_id": "0"},
			token: map[string]string{"page": "3", "per_page": "50", "sort_by": "create_time", "order": "desc", "status": "0", "search_content": "my job 测试", "workspace_id": "0"},
		},
		{
			name:  "sort and status",
			q:     Query{Page: 2, PerPage: 1, SortBy: SortJobID, Order: "asc", Status: intp(22)},
			aksk:  map[string]string{"page": "2", "per_page": "1", "sortBy": "job_id", "order": "asc", "status": "22"},
			token: map[string]string{"page": "2", "per_page": "1", "sort_by": "job_id", "order": "asc", "status": "22"},
		},
	}
	for _, mode := range []string{AuthAKSK, AuthToken} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				api := &fakeJobs{n: 3}
				h := newHarness(t, mode, api, func(c *Config) {
					if mode == AuthAKSK {
						c.SecurityToken = testSecToken
					}
				})
				api.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
					if mode == AuthAKSK {
						if err := checkSignature(r, testSK); err != nil {
							writeJSON(w, 401, fmt.Sprintf(`{"error_code":"APIG.0301","error_msg":%q}`, err.Error()))
							return true
						}
					}
					return false
				}
				if _, err := h.client.ListPage(context.Background(), tt.q); err != nil {
					t.Fatalf("ListPage: %v", err)
				}
				queries, headers := api.recorded()
				want := tt.aksk
				if mode == AuthToken {
					want = tt.token
				}
				got := map[string]string{}
				for k, v := range queries[0] {
					if len(v) != 1 {
						t.Errorf("parameter %s sent %d times", k, len(v))
					}
					got[k] = v[0]
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("query = %v, want %v", got, want)
				}
				checkHeaders(t, mode, headers[0])
			})
		}
	}
}

func checkHeaders(t *testing.T, mode string, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{"Content-Type": "application/json", "X-Project-Id": testProject, "User-Agent": "vizjob-indexer"} {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if mode == AuthToken {
		if got := h.Get("X-Auth-Token"); got != "tok-1" {
			t.Errorf("X-Auth-Token = %q, want tok-1", got)
		}
		if h.Get("Authorization") != "" {
			t.Error("token request carries an Authorization header")
		}
		return
	}
	if h.Get("X-Auth-Token") != "" {
		t.Error("AK/SK request carries X-Auth-Token")
	}
	if got := h.Get("X-Security-Token"); got != testSecToken {
		t.Errorf("X-Security-Token = %q", got)
	}
	if got := h.Get(HeaderSdkDate); got != "20250301T120000Z" {
		t.Errorf("X-Sdk-Date = %q, want the injected clock's time", got)
	}
	_, signed, _, err := ParseAuthorization(h.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"content-type", "host", "x-project-id", "x-sdk-date", "x-security-token"} {
		if !slices.Contains(signed, name) {
			t.Errorf("signed headers %v lack %s", signed, name)
		}
	}
	if slices.Contains(signed, "user-agent") {
		t.Errorf("signed headers %v include user-agent", signed)
	}
}

func TestListPageValidation(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"page zero", Query{Page: 0, PerPage: 10}, "page 0 is out of range: want 1 or more"},
		{"per page zero", Query{Page: 1, PerPage: 0}, "per_page 0 is out of range 1..100"},
		{"per page too large", Query{Page: 1, PerPage: 101}, "per_page 101 is out of range 1..100"},
		{"order", Query{Page: 1, PerPage: 10, Order: "ASC"}, `order "ASC" is not one of asc, desc`},
		{"sort key", Query{Page: 1, PerPage: 10, SortBy: "name"}, `sort key "name" is not one of job_name, job_desc, status, duration, create_time, log_dir, job_id`},
		{"negative status", Query{Page: 1, PerPage: 10, Status: intp(-1)}, "status -1 is negative"},
		{"search too long", Query{Page: 1, PerPage: 10, SearchContent: strings.Repeat("测", 101)}, "search_content has 101 characters; at most 100 allowed"},
		{"search not UTF-8", Query{Page: 1, PerPage: 10, SearchContent: "\xff"}, "search_content is not valid UTF-8"},
	}
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := h.client.ListPage(context.Background(), tt.q)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ListPage error = %v, want ErrBadInput saying %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("page = %+v, want nil", p)
			}
		})
	}
	if n := api.count.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid queries, want 0", n)
	}
	// The limits themselves are accepted: 100 runes of a multi-byte character.
	if _, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 100, SearchContent: strings.Repeat("测", 100)}); err != nil {
		t.Fatalf("ListPage at the limits: %v", err)
	}
}

func TestGetJob(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
		check   func(t *testing.T, j *Job, err error)
	}{
		{
			name: "job with is_success and extra fields", status: 200,
			body: `{"is_success":true,"job_id":197,"job_name":"apiTest-11","status":10,"create_time":1565149736000,"duration":33000,"schedule":{"x":1}}`,
			check: func(t *testing.T, j *Job, err error) {
				if err != nil || j.ID != 197 || j.Name != "apiTest-11" || j.Status != 10 || !strings.Contains(string(j.Raw), `"schedule":{"x":1}`) {
					t.Fatalf("GetJob = %+v, %v", j, err)
				}
				// Raw is the item as the list call serves it: without the answer's envelope.
				if strings.Contains(string(j.Raw), "is_success") || !json.Valid(j.Raw) {
					t.Fatalf("GetJob raw = %s, want the job object without is_success", j.Raw)
				}
			},
		},
		{
			name: "bare job object", status: 200, body: `{"job_id":198,"job_name":"x"}`,
			check: func(t *testing.T, j *Job, err error) {
				if err != nil || j.ID != 198 {
					t.Fatalf("GetJob = %+v, %v", j, err)
				}
			},
		},
		{name: "not found", status: 404, body: `{"error_code":"ModelArts.0105","error_msg":"job not found"}`, wantErr: ErrNotFound},
		{name: "failure on 200", status: 200, body: `{"is_success":false,"error_code":"ModelArts.0104","error_message":"bad id"}`, wantErr: ErrBadInput},
		{name: "job without job_id", status: 200, body: `{"is_success":true,"job_name":"x"}`, wantErr: ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			h := newHarness(t, AuthAKSK, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				writeJSON(w, tt.status, tt.body)
			}), nil)
			j, err := h.client.GetJob(context.Background(), 197)
			if want := "/v1/" + testProject + "/visualization-jobs/197"; path != want {
				t.Errorf("path = %q, want %q", path, want)
			}
			if tt.check != nil {
				tt.check(t, j, err)
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GetJob error = %v, want %v", err, tt.wantErr)
			}
			var ae *APIError
			if errors.As(err, &ae) && (ae.Attempts != 1 || ae.HTTPStatus != tt.status) {
				t.Errorf("APIError = %+v, want status %d after 1 attempt", ae, tt.status)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	api := &fakeJobs{n: 1}
	h := newHarness(t, AuthAKSK, api, func(c *Config) { c.RateLimit = 20 })
	start := time.Now()
	for range 4 {
		if _, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 10}); err != nil {
			t.Fatal(err)
		}
	}
	// 4 requests at 20/s with a burst of 1 need at least 3 intervals of 50ms.
	if elapsed := time.Since(start); elapsed < 140*time.Millisecond {
		t.Errorf("4 requests took %s, want at least 150ms at 20 requests/s", elapsed)
	}
}
