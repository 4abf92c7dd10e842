package fetch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var page1 = Query{Page: 1, PerPage: 100}

// failFirst answers the first n requests with status, header and body, then
// lets the fake list answer.
func failFirst(n int, status int, header map[string]string, body string) func(http.ResponseWriter, *http.Request, int) bool {
	return func(w http.ResponseWriter, _ *http.Request, i int) bool {
		if i > n {
			return false
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		writeJSON(w, status, body)
		return true
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header func(now time.Time) string
		least  time.Duration
	}{
		{"429 delta-seconds", 429, func(time.Time) string { return "7" }, 7 * time.Second},
		{"429 HTTP-date", 429, func(now time.Time) string { return now.Add(12 * time.Second).Format(http.TimeFormat) }, 12 * time.Second},
		{"503 delta-seconds", 503, func(time.Time) string { return "4" }, 4 * time.Second},
		{"503 HTTP-date", 503, func(now time.Time) string { return now.Add(9 * time.Second).Format(http.TimeFormat) }, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeJobs{n: 5}
			h := newHarness(t, AuthAKSK, api, nil)
			api.before = failFirst(2, tt.status, map[string]string{"Retry-After": tt.header(h.clock.Now())},
				`{"error_code":"APIG.0308","error_msg":"slow down"}`)
			m := new(Meter)
			p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
			if err != nil {
				t.Fatalf("ListPage: %v", err)
			}
			if c := m.Counts(); c.List != 3 || c.Retries != 2 || len(p.Jobs) != 5 {
				t.Errorf("page: %d requests, %d retries, %d jobs; want 3, 2, 5", c.List, c.Retries, len(p.Jobs))
			}
			waits := h.sleeps.all()
			if len(waits) != 2 {
				t.Fatalf("waits = %v, want 2", waits)
			}
			for _, w := range waits {
				if w < tt.least {
					t.Errorf("waited %s, want at least Retry-After %s", w, tt.least)
				}
			}
		})
	}
}

// TestLongRetryAfterHonoured: a Retry-After longer than MaxBackoff, within
// MaxRetryAfter, is waited in full.
func TestLongRetryAfterHonoured(t *testing.T) {
	api := &fakeJobs{n: 2}
	h := newHarness(t, AuthAKSK, api, nil) // MaxBackoff 30s, MaxRetryAfter 2m
	api.before = failFirst(1, 429, map[string]string{"Retry-After": "95"}, `{"error_code":"APIG.0308","error_msg":"slow down"}`)
	m := new(Meter)
	p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
	if err != nil || m.Counts().List != 2 {
		t.Fatalf("ListPage = %+v, %v after %+v; want success after 2 requests", p, err, m.Counts())
	}
	if w := h.sleeps.all(); len(w) != 1 || w[0] != 95*time.Second {
		t.Errorf("waits = %v, want exactly [1m35s]", w)
	}
}

func TestRetryAfterBeyondMaxRetryAfterEndsCall(t *testing.T) {
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, nil)
	api.before = failFirst(10, 429, map[string]string{"Retry-After": "3600"}, `{"error_code":"ModelArts.2799","error_msg":"quota"}`)
	_, err := h.client.ListPage(context.Background(), page1)
	var ae *APIError
	if !errors.As(err, &ae) || ae.RetryAfter != time.Hour || !errors.Is(err, ErrThrottled) {
		t.Fatalf("error = %v, want a throttled *APIError with RetryAfter 1h", err)
	}
	if !strings.Contains(err.Error(), "asked to wait 1h0m0s (Retry-After), more than the 2m0s allowed") {
		t.Errorf("error %q does not say why it was not retried", err)
	}
	if n := api.count.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if w := h.sleeps.all(); len(w) != 0 {
		t.Errorf("waited %v, want no wait", w)
	}
}

// TestRetryAfterBeyondDeadlineEndsCall: a wait that would outlast the run's
// deadline is not started; the error says so at once.
func TestRetryAfterBeyondDeadlineEndsCall(t *testing.T) {
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, nil)
	api.before = failFirst(10, 429, map[string]string{"Retry-After": "60"}, `{"error_code":"APIG.0308","error_msg":"slow down"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := h.client.ListPage(ctx, page1)
	if !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), "would outlast the run's deadline") {
		t.Fatalf("error = %v, want throttled and the deadline named", err)
	}
	if n, w := api.count.Load(), h.sleeps.all(); n != 1 || len(w) != 0 {
		t.Errorf("%d requests and waits %v; want 1 request and no wait", n, w)
	}
}

func TestTransientStatusesRetriedUpToMaxAttempts(t *testing.T) {
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			api := &fakeJobs{}
			h := newHarness(t, AuthAKSK, api, func(c *Config) { c.MaxAttempts = 4; c.BaseBackoff = time.Second; c.MaxBackoff = 3 * time.Second })
			api.before = failFirst(100, status, nil, `{"error_code":"ModelArts.0010","error_msg":"busy"}`)
			m := new(Meter)
			_, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
			var ae *APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != status {
				t.Fatalf("error = %v, want *APIError %d", err, status)
			}
			if n, c := api.count.Load(), m.Counts(); n != 4 || ae.Attempts != 4 || c.List != 4 || c.Retries != 3 {
				t.Errorf("server saw %d requests; error says %d, meter says %d/%d; want 4, 4, 4/3", n, ae.Attempts, c.List, c.Retries)
			}
			waits := h.sleeps.all()
			caps := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
			if len(waits) != len(caps) {
				t.Fatalf("waits = %v, want %d", waits, len(caps))
			}
			for i, w := range waits {
				if w < 0 || w > caps[i] {
					t.Errorf("wait %d = %s, want within [0, %s]", i, w, caps[i])
				}
			}
		})
	}
}

func TestNeverRetried(t *testing.T) {
	tests := []struct {
		name   string
		mode   string
		status int
		body   string
		is     error
	}{
		{"400", AuthAKSK, 400, `{"error_code":"ModelArts.0104","error_message":"bad"}`, ErrBadInput},
		{"403", AuthAKSK, 403, `{"error_code":"ModelArts.0206","error_msg":"bad AK/SK"}`, ErrForbidden},
		{"404", AuthAKSK, 404, `{"error_code":"APIG.0101","error_msg":"no such api"}`, ErrNotFound},
		{"401 AK/SK", AuthAKSK, 401, `{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information"}`, ErrAuth},
		{"401 AK/SK token code", AuthAKSK, 401, `{"error_code":"ModelArts.0202","error_msg":"expired"}`, ErrAuth},
		{"400 token", AuthToken, 400, `{"error_code":"ModelArts.0101","error_msg":"bad"}`, ErrBadInput},
		{"403 token", AuthToken, 403, `{"error_code":"ModelArts.0108","error_msg":"denied"}`, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeJobs{}
			h := newHarness(t, tt.mode, api, nil)
			api.before = failFirst(100, tt.status, nil, tt.body)
			_, err := h.client.ListPage(context.Background(), page1)
			if !errors.Is(err, tt.is) {
				t.Fatalf("error = %v, want %v", err, tt.is)
			}
			if n := api.count.Load(); n != 1 {
				t.Errorf("%d requests, want exactly 1", n)
			}
			if w := h.sleeps.all(); len(w) != 0 {
				t.Errorf("waited %v, want no retry", w)
			}
		})
	}
}

func TestHTMLBadGateway(t *testing.T) {
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, func(c *Config) { c.MaxAttempts = 3 })
	api.before = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Request-Id", "gw-42")
		w.WriteHeader(502)
		w.Write([]byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n"))
		return true
	}
	_, err := h.client.ListPage(context.Background(), page1)
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 502 || ae.RequestID != "gw-42" {
		t.Fatalf("error = %v, want *APIError 502 with request id", err)
	}
	if !errors.Is(err, ErrDecode) || !errors.Is(err, ErrServer) {
		t.Errorf("error %v should match ErrDecode and ErrServer", err)
	}
	for _, want := range []string{"http 502", "text/html", "<html> <head><title>502 Bad Gateway</title></head>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error %q holds control characters", err)
	}
	if n := api.count.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (502 is retried)", n)
	}
}

// TestMalformedSuccessAnswers: a 2xx answer that is not JSON at all (a
// gateway's HTML page, a body cut short) is retried up to MaxAttempts; a JSON
// answer of the wrong shape is the API's real answer and is not.
func TestMalformedSuccessAnswers(t *testing.T) {
	tests := []struct {
		name     string
		ctype    string
		body     string
		requests int
		want     []string
	}{
		{"HTML on 200", "text/html; charset=utf-8", "<!DOCTYPE html><html><body>Login required</body></html>", 3,
			[]string{"gave up after 3 attempts", "http 200", "text/html; charset=utf-8", "not JSON", "<!DOCTYPE html><html><body>Login required"}},
		{"truncated JSON", "application/json", `{"is_success":true,"job_total_count":2,"jobs":[{"job_id":1},{"job_`, 3,
			[]string{"gave up after 3 attempts", "http 200", "application/json", "unexpected end of JSON input", `{\"is_success\":true`}},
		{"JSON of the wrong shape", "application/json", `{"is_success":true,"jobs":5}`, 1,
			[]string{"http 200", "jobs: want an array, got number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeJobs{}
			h := newHarness(t, AuthAKSK, api, func(c *Config) { c.MaxAttempts = 3 })
			api.before = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				w.Header().Set("Content-Type", tt.ctype)
				w.Write([]byte(tt.body))
				return true
			}
			m := new(Meter)
			_, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error = %v, want ErrDecode", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if c := m.Counts(); c.List != tt.requests || int(api.count.Load()) != tt.requests {
				t.Errorf("meter counts %+v, server saw %d; want %d requests", c, api.count.Load(), tt.requests)
			}
		})
	}
}

// TestCutBodyRetried: a body shorter than its Content-Length, or a page of
// HTML with status 200, is retried, and the next good answer is used.
func TestCutBodyRetried(t *testing.T) {
	for _, mode := range []string{"short of Content-Length", "html 200"} {
		t.Run(mode, func(t *testing.T) {
			api := &fakeJobs{n: 3}
			h := newHarness(t, AuthAKSK, api, nil)
			api.before = func(w http.ResponseWriter, _ *http.Request, n int) bool {
				if n > 1 {
					return false
				}
				if mode == "html 200" {
					w.Header().Set("Content-Type", "text/html")
					w.Write([]byte("<html><body>maintenance</body></html>"))
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "500")
				w.Write([]byte(`{"is_success":true,"jobs":[{"job_id":1`))
				return true
			}
			m := new(Meter)
			p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
			if err != nil {
				t.Fatalf("ListPage: %v", err)
			}
			if c := m.Counts(); c.List != 2 || c.Retries != 1 || len(p.Jobs) != 3 {
				t.Errorf("page: %d requests, %d retries, %d jobs; want 2, 1, 3", c.List, c.Retries, len(p.Jobs))
			}
		})
	}
}

func TestIsSuccessFalseOn200(t *testing.T) {
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, nil)
	api.before = failFirst(100, 200, map[string]string{"X-Request-Id": "hdr-req"},
		`{"is_success":false,"error_code":"ModelArts.0104","error_message":"Invalid parameter per_page"}`)
	_, err := h.client.ListPage(context.Background(), page1)
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *APIError", err)
	}
	want := APIError{HTTPStatus: 200, Code: "ModelArts.0104", Message: "Invalid parameter per_page", RequestID: "hdr-req", Attempts: 1}
	if *ae != want {
		t.Errorf("APIError = %+v, want %+v", *ae, want)
	}
	if !errors.Is(err, ErrBadInput) {
		t.Errorf("error %v should match ErrBadInput by its code", err)
	}
}

func TestBodySizeCap(t *testing.T) {
	api := &fakeJobs{n: 100}
	h := newHarness(t, AuthAKSK, api, func(c *Config) { c.MaxBodyBytes = 1024 })
	_, err := h.client.ListPage(context.Background(), page1)
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "answer larger than 1024 bytes") {
		t.Fatalf("error = %v, want the size cap named", err)
	}
	if n := api.count.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (an oversized answer is not retried)", n)
	}
	if _, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 5}); err != nil {
		t.Errorf("a small page under the cap failed: %v", err)
	}
}

func TestNetworkErrorsRetried(t *testing.T) {
	api := &fakeJobs{n: 2}
	h := newHarness(t, AuthAKSK, api, nil)
	api.before = func(w http.ResponseWriter, _ *http.Request, n int) bool {
		if n > 2 {
			return false
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the connection drops without an answer
		}
		return true
	}
	m := new(Meter)
	p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
	if err != nil {
		t.Fatalf("ListPage: %v", err)
	}
	if c := m.Counts(); c.List != 3 || len(p.Jobs) != 2 {
		t.Errorf("page: %d requests, %d jobs; want 3 and 2", c.List, len(p.Jobs))
	}
}

func TestAttemptTimeoutRetried(t *testing.T) {
	api := &fakeJobs{n: 1}
	// A timeout far above a normal answer on a loaded machine (with 50 ms, under a load of 20 the
	// second attempt timed out too), and a first answer that would come far after it.
	h := newHarness(t, AuthAKSK, api, func(c *Config) { c.RequestTimeout = 2 * time.Second })
	api.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Minute):
			}
			return true
		}
		return false
	}
	m := new(Meter)
	p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
	if err != nil || m.Counts().List != 2 {
		t.Fatalf("ListPage = %+v, %v after %+v; want success after 2 requests", p, err, m.Counts())
	}
}

func TestCancelledContextNotRetried(t *testing.T) {
	api := &fakeJobs{}
	h := newHarness(t, AuthAKSK, api, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api.before = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		cancel()
		writeJSON(w, 503, `{"error_code":"ModelArts.0010","error_msg":"busy"}`)
		return true
	}
	_, err := h.client.ListPage(ctx, page1)
	if err == nil {
		t.Fatal("ListPage succeeded after cancel")
	}
	if n := api.count.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	api := &fakeJobs{}
	var calls atomic.Int32
	h := newHarness(t, AuthAKSK, api, func(c *Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error { calls.Add(1); return context.Canceled }
	})
	api.before = failFirst(100, 500, nil, `{"error_code":"ModelArts.0010","error_msg":"busy"}`)
	_, err := h.client.ListPage(context.Background(), page1)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrServer) {
		t.Fatalf("error = %v, want context.Canceled and the last failure", err)
	}
	if calls.Load() != 1 || api.count.Load() != 1 {
		t.Errorf("sleeps %d, requests %d; want 1 and 1", calls.Load(), api.count.Load())
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{cfg: Config{BaseBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}}
	for attempt := 1; attempt <= 80; attempt++ {
		ceiling := min(30*time.Second, 500*time.Millisecond<<min(attempt-1, 20))
		for range 50 {
			if d := c.backoff(attempt); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [0, %s]", attempt, d, ceiling)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{" 120 ", 2 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0}, // in the past
		{"Saturday, 01-Mar-25 12:00:30 GMT", 30 * time.Second},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
