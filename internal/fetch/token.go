package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// tokenCache holds the IAM token shared by every call of a client.
type tokenCache struct {
	fetching chan struct{} // one IAM request at a time; unlike a mutex, waiting honours ctx

	mu      sync.Mutex
	value   string
	expires time.Time
	renewAt time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{fetching: make(chan struct{}, 1)} }

// String never prints the token.
func (t *tokenCache) String() string { return "tokenCache{" + redacted(t.value) + "}" }

// current returns the cached token if it need not be renewed yet.
func (t *tokenCache) current(now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.value, t.value != "" && now.Before(t.renewAt)
}

// store caches a token obtained at now. It is renewed when less than ten
// minutes, or a tenth of its lifetime if that is shorter, remain.
func (t *tokenCache) store(value string, expires, now time.Time) {
	margin := min(10*time.Minute, expires.Sub(now)/10)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.value, t.expires, t.renewAt = value, expires, expires.Add(-margin)
}

// drop forgets value if it is still the cached token (a concurrent caller
// may already have replaced it).
func (t *tokenCache) drop(value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value == value {
		t.value = ""
	}
}

// authToken returns the IAM token to send ("" under AK/SK) and whether it
// came from the cache rather than from a request made for this call.
// Concurrent callers that find no valid token share one IAM request.
func (c *Client) authToken(ctx context.Context) (string, bool, error) {
	if c.tokens == nil {
		return "", false, nil
	}
	if tok, ok := c.tokens.current(c.cfg.Now()); ok {
		return tok, true, nil
	}
	select {
	case c.tokens.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	defer func() { <-c.tokens.fetching }()
	if tok, ok := c.tokens.current(c.cfg.Now()); ok {
		return tok, true, nil // renewed by another caller while we waited
	}
	tok, expires, err := c.requestToken(ctx)
	if err != nil {
		return "", false, err
	}
	now := c.cfg.Now()
	if !expires.After(now) {
		c.log.Warn("iam token already expired on arrival; check the clock", "expires_at", expires)
	}
	c.tokens.store(tok, expires, now)
	c.log.Info("iam token obtained", "expires_at", expires)
	return tok, false, nil
}

// shouldRenew says whether a failed ModelArts call deserves a new token: a
// 401 that says the token expired or is invalid, or any 401 on a cached one.
func (c *Client) shouldRenew(err error, cached bool) bool {
	var ae *APIError
	if c.tokens == nil || !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized {
		return false
	}
	return cached || ae.Code == "ModelArts.0202" || ae.Code == "ModelArts.0203"
}

// requestToken asks IAM for a project-scoped token with the password
// method, retrying 5xx and network failures but never a rejection.
func (c *Client) requestToken(ctx context.Context) (string, time.Time, error) {
	body, err := json.Marshal(c.tokenRequest())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("iam token: %w", err)
	}
	var (
		tok      string
		expires  time.Time
		requests int
	)
	err = c.retry(ctx, "iam token", func(ctx context.Context) error {
		requests++
		ans, err := c.postToken(ctx, body, requests > 1)
		if err != nil {
			return c.scrub(err)
		}
		tok, expires, err = parseToken(ans)
		return err
	})
	if err != nil {
		return "", time.Time{}, c.tokenError(err, requests)
	}
	return tok, expires, nil
}

func (c *Client) tokenRequest() map[string]any {
	type obj = map[string]any
	user := obj{"name": c.cfg.Username, "password": c.cfg.Password, "domain": obj{"name": c.cfg.DomainName}}
	return obj{"auth": obj{
		"identity": obj{"methods": []string{"password"}, "password": obj{"user": user}},
		"scope":    obj{"project": obj{"id": c.cfg.ProjectID}},
	}}
}

func (c *Client) postToken(ctx context.Context, body []byte, retry bool) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.IAMEndpoint+"/v3/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	req.Header.Set("User-Agent", userAgent)
	return c.do(req, "iam", KindToken, retry)
}

// parseToken reads the token from X-Subject-Token and its expiry from
// token.expires_at (RFC 3339, with or without fractional seconds).
func parseToken(ans *answer) (string, time.Time, error) {
	tok := ans.header.Get("X-Subject-Token")
	if tok == "" {
		return "", time.Time{}, fmt.Errorf("%w: iam answer (http %d) has no X-Subject-Token header", ErrDecode, ans.status)
	}
	var b struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(ans.body, &b); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: iam answer: %v: %q", ErrDecode, err, snippet(ans.body))
	}
	expires, err := time.Parse(time.RFC3339Nano, b.Token.ExpiresAt)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: iam answer: token.expires_at %q is not an RFC 3339 time", ErrDecode, clip(b.Token.ExpiresAt))
	}
	return tok, expires, nil
}

// tokenError says IAM rejected the credentials when it answered 400, 401 or
// 403, so the caller stops instead of locking the user.
func (c *Client) tokenError(err error, requests int) error {
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Attempts = requests
		switch ae.HTTPStatus {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			if errors.Is(ae, ErrAuth) { // its text says "authentication failed" already
				return fmt.Errorf("iam token: IAM rejected the username %q and its password for domain %q: %w",
					c.cfg.Username, c.cfg.DomainName, ae)
			}
			return fmt.Errorf("iam token: IAM rejected the username %q and its password for domain %q: %w: %w",
				c.cfg.Username, c.cfg.DomainName, ErrAuth, ae)
		}
	}
	return fmt.Errorf("iam token: %w", err)
}

// scrub removes the password from the message of an IAM answer, so that it
// appears in no error or log line even if IAM echoed it.
func (c *Client) scrub(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && len(c.cfg.Password) >= 4 {
		ae.Message = strings.ReplaceAll(ae.Message, c.cfg.Password, "[redacted]")
	}
	return err
}
