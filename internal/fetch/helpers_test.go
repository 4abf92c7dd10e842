package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testProject  = "0a1b2c3d4e5f"
	testAK       = "AKTESTACCESSKEY"
	testSK       = "sk-very-secret-9f8e7d"
	testSecToken = "sts-temporary-token-abc"
	testUser     = "alice"
	testPassword = "pa55-w0rd-hunter2"
	testDomain   = "acme-account"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeps records the waits the client asked for, without waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// harness is a client wired to fake servers, a fake clock and a sleep recorder.
type harness struct {
	client *Client
	clock  *clock
	sleeps *sleeps
	api    *httptest.Server
	iam    *fakeIAM // nil under AK/SK
}

// newHarness starts api as the ModelArts server and builds a client in mode
// (AuthAKSK or AuthToken, which also starts a fake IAM). edit may change the
// config before New.
func newHarness(t *testing.T, mode string, api http.Handler, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{clock: newClock(), sleeps: &sleeps{}}
	h.api = httptest.NewServer(api)
	t.Cleanup(h.api.Close)
	cfg := Config{
		Endpoint: h.api.URL, ProjectID: testProject,
		Now: h.clock.Now, Sleep: h.sleeps.Sleep,
	}
	switch mode {
	case AuthAKSK:
		cfg.AK, cfg.SK = testAK, testSK
	case AuthToken:
		h.iam = newFakeIAM(t, h.clock)
		cfg.Username, cfg.Password, cfg.DomainName = testUser, testPassword, testDomain
		cfg.IAMEndpoint = h.iam.srv.URL
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.client = c
	return h
}

// fakeIAM answers POST /v3/auth/tokens. Tokens are "tok-1", "tok-2", ...
// valid for lifetime from the clock's now, unless fail answers first.
type fakeIAM struct {
	srv      *httptest.Server
	requests atomic.Int32
	lifetime time.Duration
	delay    time.Duration
	// fail, when set, may answer request n (1-based) itself and return true.
	fail   func(w http.ResponseWriter, n int) bool
	bodies chan []byte
}

func newFakeIAM(t *testing.T, clk *clock) *fakeIAM {
	f := &fakeIAM{lifetime: 24 * time.Hour, bodies: make(chan []byte, 100)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.requests.Add(1))
		body, _ := io.ReadAll(r.Body)
		select {
		case f.bodies <- body:
		default:
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.Error(w, "wrong route", http.StatusNotFound)
			return
		}
		time.Sleep(f.delay)
		if f.fail != nil && f.fail(w, n) {
			return
		}
		exp := clk.Now().Add(f.lifetime).Format("2006-01-02T15:04:05.000000Z")
		w.Header().Set("X-Subject-Token", "tok-"+strconv.Itoa(n))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":{"expires_at":%q,"issued_at":"2025-03-01T12:00:00.000000Z","methods":["password"]}}`, exp)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// fakeJobs serves a list of n jobs (ids 1..n) with paging, recording the
// queries it saw. An optional before hook may answer a request itself.
type fakeJobs struct {
	n       int
	mu      sync.Mutex
	queries []map[string][]string
	headers []http.Header
	before  func(w http.ResponseWriter, r *http.Request, n int) bool
	count   atomic.Int32
}

func (f *fakeJobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.count.Add(1))
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.Query())
	hdr := r.Header.Clone()
	hdr.Set("Host", r.Host)
	f.headers = append(f.headers, hdr)
	f.mu.Unlock()
	if f.before != nil && f.before(w, r, n) {
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	var jobs []string
	for id := (page-1)*per + 1; id <= min(page*per, f.n); id++ {
		jobs = append(jobs, jobJSON(int64(id)))
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"is_success":true,"quotas":100,"job_total_count":%d,"job_count_limit":999,"jobs":[%s]}`,
		f.n, strings.Join(jobs, ",")))
}

func (f *fakeJobs) recorded() ([]map[string][]string, []http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries, f.headers
}

func jobJSON(id int64) string {
	return fmt.Sprintf(`{"job_id":%d,"job_name":"job-%d","status":7,"create_time":1565149736000,"duration":33000}`, id, id)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// checkSignature verifies an AK/SK request as the gateway does.
func checkSignature(r *http.Request, sk string) error {
	ak, signed, sig, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if ak != testAK {
		return fmt.Errorf("access key %q", ak)
	}
	want := Signature(sk, StringToSign(CanonicalRequest(r, signed, nil), r.Header.Get(HeaderSdkDate)))
	if sig != want {
		return fmt.Errorf("signature %s, want %s (signed %v)", sig, want, signed)
	}
	return nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
