package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// elsewhere is another host: it records whatever reaches it.
type elsewhere struct {
	srv  *httptest.Server
	hits atomic.Int32
	seen atomic.Value // string: the last request's headers and body
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		var b strings.Builder
		r.Header.Write(&b)
		e.seen.Store(b.String() + string(body))
		writeJSON(w, http.StatusOK, `{"is_success":true,"job_total_count":0,"jobs":[]}`)
	}))
	t.Cleanup(e.srv.Close)
	// Another host name for the same loopback server.
	e.srv.URL = strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)
	return e
}

func redirectTo(target string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), status)
	}
}

// TestRedirectsNeverFollowed: a 302 or 307 from the API (each auth mode) or from IAM sends no request,
// hence no credential, to the other host, and the error names the Location.
func TestRedirectsNeverFollowed(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		status     int
		fromIAM    bool
	}{
		{name: "aksk 302", mode: AuthAKSK, status: http.StatusFound, fromIAM: false},
		{name: "aksk 307", mode: AuthAKSK, status: http.StatusTemporaryRedirect, fromIAM: false},
		{name: "token 302", mode: AuthToken, status: http.StatusFound, fromIAM: false},
		{name: "token 308", mode: AuthToken, status: http.StatusPermanentRedirect, fromIAM: false},
		{name: "iam 307", mode: AuthToken, status: http.StatusTemporaryRedirect, fromIAM: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newElsewhere(t)
			var api http.Handler = redirectTo(other.srv.URL, tc.status)
			if tc.fromIAM {
				api = &fakeJobs{n: 3}
			}
			h := newHarness(t, tc.mode, api, func(c *Config) {
				if c.AK != "" {
					c.SecurityToken = testSecToken
				}
			})
			if tc.fromIAM {
				iam := newElsewhereRedirector(t, other.srv.URL, tc.status)
				h.client.cfg.IAMEndpoint = iam
			}
			_, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 10})
			if err == nil {
				t.Fatal("no error")
			}
			if n := other.hits.Load(); n != 0 {
				t.Fatalf("%d requests reached the other host; last: %v", n, other.seen.Load())
			}
			var re *RedirectError
			if !errors.As(err, &re) || !errors.Is(err, ErrRedirect) {
				t.Fatalf("error %v is not a *RedirectError", err)
			}
			if !strings.Contains(err.Error(), other.srv.URL) {
				t.Errorf("error does not name the Location %s: %v", other.srv.URL, err)
			}
			for _, secret := range []string{testSK, testSecToken, testPassword} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error carries a secret: %v", err)
				}
			}
			if tc.mode == AuthAKSK && h.sleeps.all() != nil {
				t.Errorf("a redirect was retried: waits %v", h.sleeps.all())
			}
		})
	}
}

func newElsewhereRedirector(t *testing.T, target string, status int) string {
	srv := httptest.NewServer(redirectTo(target, status))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCallerHTTPClientNotModified: New copies the caller's client to refuse redirects.
func TestCallerHTTPClientNotModified(t *testing.T) {
	hc := &http.Client{}
	h := newHarness(t, AuthAKSK, &fakeJobs{n: 1}, func(c *Config) { c.HTTPClient = hc })
	if hc.CheckRedirect != nil {
		t.Fatal("the caller's http.Client was modified")
	}
	if h.client.cfg.HTTPClient.CheckRedirect == nil {
		t.Fatal("the client follows redirects")
	}
}

// TestPlainHTTPRefused: New refuses http:// endpoints off loopback unless AllowInsecureHTTP is set.
func TestPlainHTTPRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		allow bool
	}{
		{cfg: Config{Endpoint: "http://modelarts.example.com", ProjectID: "p", AK: "a", SK: "s"}, allow: false},
		{cfg: Config{Endpoint: "http://modelarts.example.com", ProjectID: "p", AK: "a", SK: "s", AllowInsecureHTTP: true}, allow: true},
		{cfg: Config{Endpoint: "http://127.0.0.1:1", ProjectID: "p", AK: "a", SK: "s"}, allow: true},
		{cfg: Config{Endpoint: "http://localhost:1", ProjectID: "p", Username: "u", Password: "p", DomainName: "d",
			IAMEndpoint: "http://iam.example.com"}, allow: false},
		{cfg: Config{Endpoint: "https://m.example.com", ProjectID: "p", Username: "u", Password: "p", DomainName: "d",
			IAMEndpoint: "http://[::1]:1"}, allow: true},
	} {
		_, err := New(tc.cfg)
		if (err == nil) != tc.allow {
			t.Errorf("%s: error %v, want allowed %v", tc.cfg, err, tc.allow)
		}
		if err != nil && !strings.Contains(err.Error(), "clear text") {
			t.Errorf("error does not say why: %v", err)
		}
	}
}
