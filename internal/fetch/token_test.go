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
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenCachedAcrossPages(t *testing.T) {
	api := &fakeJobs{n: 450}
	h := newHarness(t, AuthToken, api, nil)
	m := new(Meter)
	res, err := Walk(WithMeter(context.Background(), m), h.client, WalkOptions{}, func(context.Context, *Page) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Counts(); res.Pages != 5 || c.List != 5 || c.Token != 1 || res.Delivered != 450 {
		t.Errorf("walk = %+v, meter %+v", res, c)
	}
	if n := h.iam.requests.Load(); n != 1 {
		t.Errorf("%d IAM requests for 5 pages, want 1", n)
	}
	_, headers := api.recorded()
	for i, hdr := range headers {
		if got := hdr.Get("X-Auth-Token"); got != "tok-1" {
			t.Errorf("request %d X-Auth-Token = %q, want tok-1", i, got)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(<-h.iam.bodies, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []any{"password"}, "password": map[string]any{"user": map[string]any{
			"name": testUser, "password": testPassword, "domain": map[string]any{"name": testDomain}}}},
		"scope": map[string]any{"project": map[string]any{"id": testProject}},
	}}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("IAM body = %v, want %v", body, want)
	}
}

func TestTokenRenewedNearExpiry(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		stillOK  time.Duration // elapsed time at which the first token is still used
		renew    time.Duration // elapsed time at which a new one is fetched
	}{
		{name: "24h token renews 10 minutes before expiry", lifetime: 24 * time.Hour, stillOK: 24*time.Hour - 11*time.Minute, renew: 24*time.Hour - 9*time.Minute},
		{name: "30m token renews at 10% of its lifetime", lifetime: 30 * time.Minute, stillOK: 26 * time.Minute, renew: 28 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeJobs{n: 1}
			h := newHarness(t, AuthToken, api, nil)
			h.iam.lifetime = tt.lifetime
			call := func() {
				t.Helper()
				if _, err := h.client.ListPage(context.Background(), page1); err != nil {
					t.Fatal(err)
				}
			}
			call()
			h.clock.Advance(tt.stillOK)
			call()
			if n := h.iam.requests.Load(); n != 1 {
				t.Fatalf("%d IAM requests before the renewal point, want 1", n)
			}
			h.clock.Advance(tt.renew - tt.stillOK)
			call()
			if n := h.iam.requests.Load(); n != 2 {
				t.Fatalf("%d IAM requests after the renewal point, want 2", n)
			}
			_, headers := api.recorded()
			if got := headers[2].Get("X-Auth-Token"); got != "tok-2" {
				t.Errorf("third call sent %q, want tok-2", got)
			}
		})
	}
}

func TestTokenRenewedOnceOn401(t *testing.T) {
	expired := `{"error_code":"ModelArts.0202","error_msg":"token expired"}`
	tests := []struct {
		name       string
		reject     func(token string) (status int, body string, reject bool)
		wantErr    bool
		requests   int
		iamQueries int32
	}{
		{
			name: "expired token renewed",
			reject: func(tok string) (int, string, bool) {
				return 401, expired, tok == "tok-1"
			},
			requests: 2, iamQueries: 2,
		},
		{
			name:    "second 401 returned",
			reject:  func(string) (int, string, bool) { return 401, expired, true },
			wantErr: true, requests: 2, iamQueries: 2,
		},
		{
			name: "401 on a fresh token with another code is not renewed",
			reject: func(string) (int, string, bool) {
				return 401, `{"error_code":"ModelArts.0207","error_msg":"not project scoped"}`, true
			},
			wantErr: true, requests: 1, iamQueries: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeJobs{n: 3}
			h := newHarness(t, AuthToken, api, nil)
			api.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				status, body, reject := tt.reject(r.Header.Get("X-Auth-Token"))
				if reject {
					writeJSON(w, status, body)
				}
				return reject
			}
			m := new(Meter)
			_, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ListPage error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrAuth) {
				t.Errorf("error %v should match ErrAuth", err)
			}
			if n, c := api.count.Load(), m.Counts(); int(n) != tt.requests || c.List != tt.requests {
				t.Errorf("server saw %d requests, meter says %d; want %d", n, c.List, tt.requests)
			}
			if n := h.iam.requests.Load(); n != tt.iamQueries || int32(m.Counts().Token) != n {
				t.Errorf("%d IAM requests (meter: %d), want %d", n, m.Counts().Token, tt.iamQueries)
			}
		})
	}
}

func TestAnyRejectedCachedTokenRenewed(t *testing.T) {
	api := &fakeJobs{n: 3}
	h := newHarness(t, AuthToken, api, nil)
	if _, err := h.client.ListPage(context.Background(), page1); err != nil {
		t.Fatal(err)
	}
	// The server revokes tok-1 with an unlisted code: the cached token is
	// still dropped and renewed once.
	api.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.Header.Get("X-Auth-Token") == "tok-1" {
			writeJSON(w, 401, `{"error_code":"APIG.0307","error_msg":"token revoked"}`)
			return true
		}
		return false
	}
	m := new(Meter)
	p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
	if c := m.Counts(); err != nil || c.List != 2 || c.Token != 1 || c.Retries != 1 || h.iam.requests.Load() != 2 {
		t.Fatalf("ListPage = %+v, %v with %d IAM requests (meter %+v); want success after renewal", p, err, h.iam.requests.Load(), c)
	}
}

func TestIAMRejectionNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			api := &fakeJobs{n: 1}
			h := newHarness(t, AuthToken, api, nil)
			h.iam.fail = func(w http.ResponseWriter, _ int) bool {
				// A careless server that echoes the password must not leak it either.
				writeJSON(w, status, fmt.Sprintf(`{"error":{"code":%d,"title":"Unauthorized","message":"wrong password %s"}}`, status, testPassword))
				return true
			}
			_, err := h.client.ListPage(context.Background(), page1)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("error = %v, want ErrAuth", err)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != status || ae.Attempts != 1 {
				t.Errorf("error = %v, want the IAM *APIError %d after 1 attempt", err, status)
			}
			msg := err.Error()
			for _, want := range []string{"IAM rejected", testUser, testDomain} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			assertNoSecrets(t, msg)
			// Said once each: not "authentication failed: iam: authentication failed: http 401 401:".
			if strings.Count(msg, "authentication failed") != 1 || strings.Contains(msg, fmt.Sprintf("%d %d", status, status)) {
				t.Errorf("error %q repeats itself", msg)
			}
			if n := h.iam.requests.Load(); n != 1 {
				t.Errorf("%d IAM requests, want exactly 1", n)
			}
			if n := api.count.Load(); n != 0 {
				t.Errorf("%d ModelArts requests without a token, want 0", n)
			}
		})
	}
}

func TestIAMServerErrorsRetried(t *testing.T) {
	api := &fakeJobs{n: 1}
	h := newHarness(t, AuthToken, api, nil)
	h.iam.fail = func(w http.ResponseWriter, n int) bool {
		if n <= 2 {
			writeJSON(w, 503, `{"error_msg":"busy","error_code":"IAM.0999"}`)
			return true
		}
		return false
	}
	m := new(Meter)
	p, err := h.client.ListPage(WithMeter(context.Background(), m), page1)
	if c := m.Counts(); err != nil || c.List != 1 || c.Token != 3 || c.Retries != 2 {
		t.Fatalf("ListPage = %+v, %v (meter %+v); want 1 list request after 3 token requests, 2 of them retries", p, err, c)
	}
	if n := h.iam.requests.Load(); n != 3 {
		t.Errorf("%d IAM requests, want 3", n)
	}
	// IAM failing for good ends the call after MaxAttempts IAM requests, without
	// multiplying them by the ModelArts retries.
	// The retries are logged, and the password IAM echoed is not.
	var logs bytes.Buffer
	h2 := newHarness(t, AuthToken, &fakeJobs{}, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	h2.iam.fail = func(w http.ResponseWriter, _ int) bool {
		writeJSON(w, 500, `{"error_msg":"down for `+testPassword+`"}`)
		return true
	}
	_, err = h2.client.ListPage(context.Background(), page1)
	if !errors.Is(err, ErrServer) || errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "iam token") {
		t.Fatalf("error = %v, want an IAM server error", err)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("retries not logged: %s", logs.String())
	}
	assertNoSecrets(t, logs.String()+err.Error())
	if n := h2.iam.requests.Load(); n != 5 {
		t.Errorf("%d IAM requests, want MaxAttempts (5)", n)
	}
}

func TestConcurrentCallersShareOneTokenRequest(t *testing.T) {
	api := &fakeJobs{n: 1}
	h := newHarness(t, AuthToken, api, nil)
	h.iam.delay = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := h.client.ListPage(context.Background(), page1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := h.iam.requests.Load(); n != 1 {
		t.Errorf("%d IAM requests for 10 concurrent calls, want 1", n)
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		body    string
		want    time.Time
		wantErr string
	}{
		{name: "fractional seconds", header: "t1", body: `{"token":{"expires_at":"2025-03-02T12:00:00.123000Z"}}`, want: time.Date(2025, 3, 2, 12, 0, 0, 123000000, time.UTC), wantErr: ""},
		{name: "whole seconds", header: "t1", body: `{"token":{"expires_at":"2025-03-02T12:00:00Z"}}`, want: time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC), wantErr: ""},
		{name: "offset", header: "t1", body: `{"token":{"expires_at":"2025-03-02T20:00:00+08:00"}}`, want: time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC), wantErr: ""},
		{name: "no header", header: "", body: `{"token":{"expires_at":"2025-03-02T12:00:00Z"}}`, want: time.Time{}, wantErr: "no X-Subject-Token header"},
		{name: "no expiry", header: "t1", body: `{"token":{}}`, want: time.Time{}, wantErr: `token.expires_at "" is not an RFC 3339 time`},
		{name: "not JSON", header: "t1", body: `<html>`, want: time.Time{}, wantErr: "iam answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("X-Subject-Token", tt.header)
			}
			tok, exp, err := parseToken(&answer{status: 201, header: h, body: []byte(tt.body)})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrDecode saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || tok != tt.header || !exp.Equal(tt.want) {
				t.Fatalf("parseToken = %q, %s, %v; want %s", tok, exp, err, tt.want)
			}
		})
	}
}
