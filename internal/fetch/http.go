package fetch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/textcap"
)

// answer is a 2xx answer read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// explain completes an error found while decoding a 2xx answer: an *APIError
// (is_success false) gets the status, request id and attempts; anything else
// is told what came back.
func (a *answer) explain(err error, requests int) error {
	var ae *APIError
	if errors.As(err, &ae) {
		ae.HTTPStatus = a.status
		ae.RequestID = cmp.Or(ae.RequestID, textcap.Clean(a.header.Get("X-Request-Id"), maxErrorField))
		ae.Attempts = requests
		return ae
	}
	return fmt.Errorf("http %d, %s: %w", a.status, describeType(a.header, a.body), err)
}

func describeType(h http.Header, body []byte) string {
	ct := textcap.Clean(h.Get("Content-Type"), maxErrorField) // a header may be megabytes long
	if ct == "" {
		ct = "no content type"
	}
	return fmt.Sprintf("%s, %d bytes", ct, len(body))
}

// cappedError is an error from outside (Go's transport quotes a malformed header line whole: "net/http:
// HTTP/1.x transport connection broken: malformed MIME header line: ..."), its text cleaned and capped
// as an API's error message is, once; errors.Is and errors.As still see what it wraps.
type cappedError struct {
	err  error
	text string
}

func capError(err error) error {
	if err == nil {
		return nil
	}
	return &cappedError{err: err, text: textcap.Clean(err.Error(), MaxErrorMessage)}
}

func (e *cappedError) Error() string { return e.text }
func (e *cappedError) Unwrap() error { return e.err }

// transientError is a failure worth retrying: the network, a timeout of one
// attempt, a body cut short.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// finalError stops the retry loop even if what it wraps looks transient
// (an IAM failure already retried by its own loop).
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// get sends GET path?params to ModelArts until it answers 2xx with a body
// that decode accepts, fails for good, or MaxAttempts attempts were made. A
// 2xx body that is not JSON at all (cut short, or a gateway's HTML page) is
// retried like a network failure; a JSON body decode rejects is not. Under
// token authentication a 401 that says the token is bad renews the token and
// retries once. Every request sent is counted as kind by the Meter of ctx, if any.
func (c *Client) get(ctx context.Context, kind, path string, params url.Values, decode func(body []byte) error) error {
	var (
		requests int
		renewed  bool
	)
	attempt := func(ctx context.Context, tok string) error {
		ans, err := c.send(ctx, kind, requests > 0, path, params, tok)
		requests++
		if err != nil {
			return err
		}
		if err := decode(ans.body); err != nil {
			err = ans.explain(err, requests)
			if !json.Valid(ans.body) {
				return &transientError{err}
			}
			return err
		}
		return nil
	}
	err := c.retry(ctx, path, func(ctx context.Context) error {
		tok, cached, err := c.authToken(ctx)
		if err != nil {
			return &finalError{err}
		}
		err = attempt(ctx, tok)
		if err == nil || renewed || !c.shouldRenew(err, cached) {
			return err
		}
		renewed = true
		c.tokens.drop(tok)
		c.log.Info("token rejected, renewing it", "error", err)
		if tok, _, err = c.authToken(ctx); err != nil {
			return &finalError{err}
		}
		return attempt(ctx, tok)
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.service == "" {
			ae.Attempts = requests
		}
		return err
	}
	return nil
}

// send makes one GET request of kind to ModelArts; retry says it repeats a failed one of the same call.
func (c *Client) send(ctx context.Context, kind string, retry bool, path string, params url.Values, token string) (*answer, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, path, params, token)
	if err != nil {
		return nil, err
	}
	sent := time.Now()
	ans, err := c.do(req, "", kind, retry)
	if c.limiter != nil {
		c.observe(sent, ans, err)
	}
	return ans, err
}

// observe tells the adaptive rate how a request sent at sent was answered.
func (c *Client) observe(sent time.Time, ans *answer, err error) {
	var ae *APIError
	switch {
	case err == nil:
		c.limiter.observe(sent, ans.status, 0)
	case errors.As(err, &ae):
		c.limiter.observe(sent, ae.HTTPStatus, ae.RetryAfter)
	}
}

// newRequest builds a GET with the headers ModelArts wants, signed under
// AK/SK (host, content-type, x-project-id, x-sdk-date and x-security-token
// are signed; the User-Agent is added after signing so proxies may rewrite it).
func (c *Client) newRequest(ctx context.Context, path string, params url.Values, token string) (*http.Request, error) {
	u, err := url.Parse(c.cfg.Endpoint + path)
	if err != nil {
		return nil, fmt.Errorf("build url: %w", err)
	}
	u.RawQuery = CanonicalQuery(params)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", c.cfg.ProjectID)
	if c.mode == AuthAKSK {
		now := c.cfg.Now()
		req.Host = u.Host
		req.Header.Set("Host", u.Host)
		req.Header.Set(HeaderSdkDate, now.UTC().Format(SdkDateFormat))
		if c.cfg.SecurityToken != "" {
			req.Header.Set("X-Security-Token", c.cfg.SecurityToken)
		}
		c.signer.Sign(req, nil, now)
	} else {
		req.Header.Set("X-Auth-Token", token)
	}
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// do sends req, a request of kind (retry: repeating a failed one of the same call), and reads the
// whole answer. A non-2xx answer becomes an *APIError of service (empty for ModelArts). It is the one
// place requests are sent: the Meter of req's context counts each here.
func (c *Client) do(req *http.Request, service, kind string, retry bool) (*answer, error) {
	meterOf(req.Context()).sent(kind, retry)
	resp, err := c.cfg.HTTPClient.Do(req)
	if c.cfg.OnResponse != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		c.cfg.OnResponse(status)
	}
	if err != nil {
		return nil, &transientError{capError(err)}
	}
	defer resp.Body.Close()
	if isRedirect(resp.StatusCode) {
		return nil, &RedirectError{Service: cmp.Or(service, "modelarts api"), Status: resp.StatusCode,
			From: req.URL.Redacted(), Location: resp.Header.Get("Location")}
	}
	body, err := readBody(resp.Body, c.cfg.MaxBodyBytes)
	body = c.redactPassword(body) // before any part of it is cut into an error's text
	if err != nil {
		return nil, fmt.Errorf("%s %s: http %d: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	ans := &answer{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode/100 != 2 {
		e := decodeAPIError(ans.status, ans.header, ans.body, c.cfg.Now())
		e.service = service
		return nil, e
	}
	return ans, nil
}

// redactPassword replaces the IAM password in an answer, as sent (in the JSON of the token
// request, with or without HTML escaping) or raw, by [redacted]: an answer that echoes it then shows
// none of it, even where its text is cut (the cut would otherwise keep a part of it).
func (c *Client) redactPassword(body []byte) []byte {
	pw := c.cfg.Password
	if len(pw) < 4 || len(body) == 0 {
		return body
	}
	for _, form := range jsonForms(pw) {
		if bytes.Contains(body, form) {
			body = bytes.ReplaceAll(body, form, []byte("[redacted]"))
		}
	}
	return body
}

// jsonForms is s raw and as a JSON string's content, with and without HTML escaping.
func jsonForms(s string) [][]byte {
	forms := [][]byte{[]byte(s)}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			if f := bytes.TrimSpace(b.Bytes()); len(f) >= 2 {
				forms = append(forms, f[1:len(f)-1])
			}
		}
	}
	return forms
}

// ErrRedirect matches a *RedirectError.
var ErrRedirect = errors.New("redirect refused")

// RedirectError is a 3xx answer. Redirects are never followed: the request carries credentials
// (the signature and X-Security-Token, X-Auth-Token, the IAM password in the body) that must reach
// the configured endpoint and no other host, in clear text never. An API that redirects is a
// misconfigured endpoint; the error names where it points, so that the user can fix the setting.
type RedirectError struct {
	Service  string // "modelarts api" or "iam"
	Status   int
	From     string // the URL requested, without its query's secrets (there are none: AK/SK sign headers)
	Location string // the Location header as received (possibly empty)
}

func (e *RedirectError) Error() string {
	loc := "no Location header"
	if e.Location != "" {
		loc = "Location " + strconv.Quote(textcap.Clean(e.Location, 512))
	}
	return fmt.Sprintf("%s: http %d redirect (%s) refused: requests carry credentials and are never sent to another URL; "+
		"check the endpoint setting (%s)", e.Service, e.Status, loc, e.From)
}

// Unwrap makes errors.Is(err, ErrRedirect) true.
func (e *RedirectError) Unwrap() error { return ErrRedirect }

func isRedirect(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

// noRedirects returns a copy of hc (a new client when nil) that never follows a redirect: the
// 3xx answer itself comes back to do, which turns it into a *RedirectError. The caller's client is
// not modified.
func noRedirects(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// readBody reads at most limit bytes; a longer answer is an error (not
// retried), a read cut short is transient.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &transientError{fmt.Errorf("read answer: %w", capError(err))}
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: answer larger than %d bytes (MaxBodyBytes)", ErrDecode, limit)
	}
	return body, nil
}

// retry runs send until it succeeds, fails with an error not worth
// retrying, or MaxAttempts attempts failed, waiting between attempts with
// capped exponential backoff and full jitter, and at least Retry-After. It
// gives up at once when the server asks to wait longer than MaxRetryAfter,
// or when the wait would outlast ctx's deadline (the run's): the error then
// says so.
func (c *Client) retry(ctx context.Context, what string, send func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := send(ctx)
		if err == nil {
			return nil
		}
		after, ok := c.retryable(ctx, err)
		if !ok {
			return err
		}
		if attempt >= c.cfg.MaxAttempts {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		if after > c.cfg.MaxRetryAfter {
			c.log.Warn("not retrying: the server asks to wait longer than allowed",
				"what", what, "retry_after", after, "max_retry_after", c.cfg.MaxRetryAfter, "error", err)
			return fmt.Errorf("not retried: the server asked to wait %s (Retry-After), more than the %s allowed: %w",
				after, c.cfg.MaxRetryAfter, err)
		}
		wait := max(c.backoff(attempt), after)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			left := max(time.Until(deadline), 0).Round(time.Millisecond)
			c.log.Warn("not retrying: the wait would outlast the run's deadline",
				"what", what, "wait", wait, "deadline_in", left, "error", err)
			return fmt.Errorf("not retried: waiting %s before the next attempt would outlast the run's deadline (%s left): %w",
				wait.Round(time.Millisecond), left, err)
		}
		c.log.Warn("retrying", "what", what, "attempt", attempt, "wait", wait, "retry_after", after, "error", err)
		if serr := c.cfg.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (waiting to retry after: %w)", serr, err)
		}
	}
}

// retryable says whether err is worth another attempt, and the least wait
// the server asked for.
func (c *Client) retryable(ctx context.Context, err error) (time.Duration, bool) {
	var fe *finalError
	if ctx.Err() != nil || errors.As(err, &fe) {
		return 0, false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.HTTPStatus {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return ae.RetryAfter, true
		}
		return 0, false
	}
	var te *transientError
	return 0, errors.As(err, &te)
}

// backoff draws the wait before retry number attempt (1-based) uniformly
// from [0, min(MaxBackoff, BaseBackoff*2^(attempt-1))].
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.cfg.MaxBackoff
	if shift := attempt - 1; shift < 32 {
		if d := c.cfg.BaseBackoff << shift; d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// parseRetryAfter reads delta-seconds or an HTTP-date; anything else, or a
// time in the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 1<<30)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
