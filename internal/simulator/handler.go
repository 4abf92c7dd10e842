package simulator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vizjob/indexer/internal/fetch"
)

const (
	iamTimeFormat = "2006-01-02T15:04:05.000000Z"
	maxBody       = 1 << 20
	contentType   = "application/json;charset=UTF-8"
)

// Handler serves the IAM token call and the ModelArts list and detail calls;
// any other request gets a 404 JSON error as the API gateway answers it.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", s.issueToken)
	mux.HandleFunc("GET /v1/{project_id}/visualization-jobs", s.listJobs)
	mux.HandleFunc("GET /v1/{project_id}/visualization-jobs/{job_id}", s.getJob)
	s.registerAdmin(mux) // POST /_sim/churn, /_sim/mutate, /_sim/faults, GET /_sim/state: admin.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apigError(w, http.StatusNotFound, "APIG.0101", "The API does not exist or has not been published in the environment")
	})
	api := s.withQuota(s.withFaults(mux)) // the quota per credential (quota.go), injected gateway faults (faults.go)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		api.ServeHTTP(rec, r)
		entry := RequestLog{
			Method:   r.Method,
			Path:     r.URL.Path,
			RawQuery: r.URL.RawQuery,
			Status:   rec.status,
			Auth:     authMode(r),
		}
		s.mu.Lock()
		if entry.Status == http.StatusUnauthorized {
			s.stats.AuthFailures++
		}
		if len(s.stats.Requests) >= maxRequestLog {
			s.stats.Requests = slices.Delete(s.stats.Requests, 0, len(s.stats.Requests)-maxRequestLog+1)
		}
		s.stats.Requests = append(s.stats.Requests, entry)
		s.mu.Unlock()
		s.log.Debug("simulator request", "method", entry.Method, "path", entry.Path,
			"query", entry.RawQuery, "status", entry.Status, "auth", entry.Auth)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (faults.go resets it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// authMode tells how a request authenticates, from its headers alone.
func authMode(r *http.Request) string {
	switch {
	case r.URL.Path == "/v3/auth/tokens":
		return AuthPassword
	case strings.HasPrefix(r.Header.Get("Authorization"), fetch.SignAlgorithm):
		return AuthAKSK
	case r.Header.Get("X-Auth-Token") != "":
		return AuthToken
	}
	return AuthNone
}

// ---- IAM ----

type iamAuthRequest struct {
	Auth *struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User struct {
					Name     string `json:"name"`
					Password string `json:"password"`
					Domain   struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

type iamName struct {
	Name string `json:"name"`
}

type iamTokenBody struct {
	Token struct {
		ExpiresAt string   `json:"expires_at"`
		IssuedAt  string   `json:"issued_at"`
		Methods   []string `json:"methods"`
		Project   struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"project"`
		User struct {
			Name   string  `json:"name"`
			Domain iamName `json:"domain"`
		} `json:"user"`
	} `json:"token"`
}

// issueToken is IAM's POST /v3/auth/tokens with the password method.
func (s *Simulator) issueToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()

	var req iamAuthRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&req); err != nil || req.Auth == nil {
		iamError(w, http.StatusBadRequest, "The request body is malformed.")
		return
	}
	pw := req.Auth.Identity.Password
	if pw == nil || !slices.Contains(req.Auth.Identity.Methods, "password") {
		iamError(w, http.StatusBadRequest, "The request body is malformed: identity.methods must include password.")
		return
	}
	if !equal(pw.User.Name, s.opts.Username) || !equal(pw.User.Password, s.opts.Password) ||
		!equal(pw.User.Domain.Name, s.opts.DomainName) {
		iamError(w, http.StatusUnauthorized, "The username or password is wrong.")
		return
	}
	if req.Auth.Scope.Project.ID != s.opts.ProjectID {
		iamError(w, http.StatusUnauthorized, "The project in scope.project.id does not exist or is not accessible.")
		return
	}

	value := randomHex(32)
	issued := s.opts.Now().UTC()
	expires := issued.Add(s.opts.TokenTTL)
	s.mu.Lock()
	for k, t := range s.tokens { // forget tokens long dead
		if issued.Sub(t.expiresAt) > 7*24*time.Hour {
			delete(s.tokens, k)
		}
	}
	s.tokens[value] = &token{expiresAt: expires}
	s.mu.Unlock()

	var body iamTokenBody
	body.Token.ExpiresAt = expires.Format(iamTimeFormat)
	body.Token.IssuedAt = issued.Format(iamTimeFormat)
	body.Token.Methods = []string{"password"}
	body.Token.Project.ID = s.opts.ProjectID
	body.Token.Project.Name = DefaultRegion
	body.Token.User.Name = s.opts.Username
	body.Token.User.Domain.Name = s.opts.DomainName
	b, _ := encode(body)
	w.Header().Set("X-Subject-Token", value)
	writeJSON(w, http.StatusCreated, b)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// ---- ModelArts ----

// authenticate checks the AK/SK signature or the token, then the project. It
// answers the failure itself and returns the auth mode, or "" on failure.
func (s *Simulator) authenticate(w http.ResponseWriter, r *http.Request) string {
	mode := authMode(r)
	switch mode {
	case AuthAKSK:
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if msg := s.verifySignature(r, body); msg != "" {
			apigError(w, http.StatusUnauthorized, "APIG.0301", msg)
			return ""
		}
	case AuthToken:
		if code, msg := s.verifyToken(r.Header.Get("X-Auth-Token")); code != "" {
			modelArtsError(w, http.StatusUnauthorized, code, msg)
			return ""
		}
	default:
		modelArtsError(w, http.StatusUnauthorized, "ModelArts.0201", "Token missing")
		return ""
	}
	if r.PathValue("project_id") != s.opts.ProjectID ||
		(r.Header.Get("X-Project-Id") != "" && r.Header.Get("X-Project-Id") != s.opts.ProjectID) {
		modelArtsError(w, http.StatusForbidden, "ModelArts.0210", "The project ID does not match the credentials")
		return ""
	}
	return mode
}

const signatureFailure = "Incorrect IAM authentication information: verify aksk signature fail"

// verifySignature checks an SDK-HMAC-SHA256 request as the API gateway does,
// lockout included. It returns "" when the request is authentic, else the
// error message to answer.
func (s *Simulator) verifySignature(r *http.Request, body []byte) string {
	ak, signed, sig, err := fetch.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil || !equal(ak, s.opts.AK) {
		return signatureFailure
	}
	now := s.opts.Now()
	s.mu.Lock()
	locked := now.Before(s.akLocked)
	s.mu.Unlock()
	if locked {
		return fmt.Sprintf("Incorrect IAM authentication information: the access key is locked for %s after %d failed authentications", lockFor, lockAfter)
	}

	reason := s.signatureProblem(r, body, signed, sig, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		s.akFails = 0
		return ""
	}
	s.akFails++
	if s.akFails >= lockAfter {
		s.akFails = 0
		s.akLocked = now.Add(lockFor)
		s.log.Warn("simulator locked the access key", "for", lockFor.String())
	}
	s.log.Debug("simulator rejected a signature", "reason", reason)
	return signatureFailure
}

// signatureProblem says why a request of the known AK is not authentic, or "".
func (s *Simulator) signatureProblem(r *http.Request, body []byte, signed []string, sig string, now time.Time) string {
	if !slices.Contains(signed, "x-sdk-date") {
		return "x-sdk-date not signed"
	}
	date := r.Header.Get(fetch.HeaderSdkDate)
	t, err := time.Parse(fetch.SdkDateFormat, date)
	if err != nil {
		return "x-sdk-date unparsable"
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return "x-sdk-date too far from now"
	}
	if s.opts.SecurityToken != "" {
		if !slices.Contains(signed, "x-security-token") || !equal(r.Header.Get("X-Security-Token"), s.opts.SecurityToken) {
			return "security token missing, unsigned or wrong"
		}
	}
	want := fetch.Signature(s.opts.SK, fetch.StringToSign(fetch.CanonicalRequest(r, signed, body), date))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "signature mismatch"
	}
	return ""
}

func (s *Simulator) verifyToken(value string) (code, msg string) {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	switch {
	case !ok:
		return "ModelArts.0203", "Token invalid"
	case t.expired || !now.Before(t.expiresAt):
		return "ModelArts.0202", "Token expired"
	}
	return "", ""
}

type listQuery struct {
	page, perPage int
	pageGiven     bool // page was sent (Dialect.Pages reads an omitted one its own way)
	sortKey       string
	desc          bool
	status        *int
	search        string // lower case
	searchRaw     string // as sent
}

// parseList reads the list call's parameters; the sort key is read from
// sortBy under AK/SK and sort_by under a token, the other spelling being
// ignored like any unknown parameter. It returns an error message for a bad
// parameter.
func (s *Simulator) parseList(q url.Values, mode string) (listQuery, string) {
	lq := listQuery{page: defaultPage, perPage: defaultPerPage, sortKey: defaultSortKey}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 { // 0: refused by pageSpan unless pages count from 0
			return lq, fmt.Sprintf("Invalid parameter page: %q is not an integer of at least 1", v)
		}
		lq.page, lq.pageGiven = n, true
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.opts.MaxPerPage {
			return lq, fmt.Sprintf("Invalid parameter per_page: %q is not an integer from 1 to %d", v, s.opts.MaxPerPage)
		}
		lq.perPage = n
	}
	switch v := q.Get("order"); v {
	case "", "asc":
	case "desc":
		lq.desc = true
	default:
		return lq, fmt.Sprintf("Invalid parameter order: %q is neither asc nor desc", v)
	}
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lq, fmt.Sprintf("Invalid parameter status: %q is not an integer", v)
		}
		lq.status = &n
	}
	if v := q.Get("search_content"); v != "" {
		if utf8.RuneCountInString(v) > maxSearchRunes {
			return lq, fmt.Sprintf("Invalid parameter search_content: longer than %d characters", maxSearchRunes)
		}
		lq.search, lq.searchRaw = strings.ToLower(v), v
	}
	param := "sort_by"
	if mode == AuthAKSK {
		param = "sortBy"
	}
	if v := q.Get(param); v != "" {
		if compareBy(v) == nil {
			return lq, fmt.Sprintf("Invalid parameter %s: unknown sort key %q", param, v)
		}
		lq.sortKey = v
	}
	return lq, ""
}

// listJobs is GET /v1/{project_id}/visualization-jobs.
func (s *Simulator) listJobs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.ListRequests++
	s.mu.Unlock()
	mode := s.authenticate(w, r)
	if mode == "" {
		return
	}
	lq, msg := s.parseList(r.URL.Query(), mode)
	if msg != "" {
		modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", msg)
		return
	}

	if !s.delay(r) {
		return
	}
	s.mu.Lock()
	matches := s.ordered(lq.sortKey, lq.desc) // no filter: the cached order itself, sliced below
	if lq.status != nil || lq.search != "" {
		var filtered []*JobState
		for _, j := range matches {
			if lq.status != nil && !s.opts.Dialect.StatusIgnored && j.Status != *lq.status {
				continue
			}
			if lq.search != "" && !s.searchMatches(j, lq.search, lq.searchRaw) {
				continue
			}
			filtered = append(filtered, j)
		}
		matches = filtered
	}
	if c := s.opts.Dialect.PerPageCap; c > 0 {
		lq.perPage = min(lq.perPage, c)
	}
	from, status, code, msg := s.pageSpan(lq.page, lq.pageGiven, lq.perPage, len(matches))
	if status != 0 {
		s.mu.Unlock()
		modelArtsError(w, status, code, msg)
		return
	}
	b := []byte(`{"is_success":true,"quotas":`)
	b = strconv.AppendInt(b, jobQuota, 10)
	b = append(b, `,"job_total_count":`...)
	b = strconv.AppendInt(b, int64(len(matches)), 10)
	b = append(b, `,"job_count_limit":`...)
	b = strconv.AppendInt(b, int64(max(0, jobQuota-len(s.jobs))), 10)
	b = append(b, `,"jobs":[`...)
	if from < len(matches) {
		for i, j := range matches[from:min(from+lq.perPage, len(matches))] {
			if i > 0 {
				b = append(b, ',')
			}
			b = j.appendJSON(b)
		}
	}
	onList := s.afterListLocked() // churn: mutate after the answer is computed, before it is sent
	s.mu.Unlock()
	if onList != nil {
		onList(ListCall{Page: lq.page, PerPage: lq.perPage, SortKey: lq.sortKey, Desc: lq.desc, Total: len(matches)})
	}
	writeJSON(w, http.StatusOK, append(b, "]}"...))
}

// delay waits Options.Latency before a ModelArts call is answered, without
// holding any lock, so that concurrent requests wait side by side as they do
// on a distant server. It reports false when the client went away meanwhile.
func (s *Simulator) delay(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// ordered returns every job in the order of key, ties broken by job_id
// ascending whatever the direction. The slice is cached until the next change
// of any job (every mutation clears s.sorted) and must not be modified.
// Callers hold s.mu.
func (s *Simulator) ordered(key string, desc bool) []*JobState {
	cacheKey := key + "/asc"
	if desc {
		cacheKey = key + "/desc"
	}
	if o, ok := s.sorted[cacheKey]; ok {
		return o
	}
	by := compareBy(key)
	o := slices.Clone(s.jobs) // sorted by id, and the sort is stable
	slices.SortStableFunc(o, func(a, b *JobState) int {
		if desc {
			return by(b, a)
		}
		return by(a, b)
	})
	s.sorted[cacheKey] = o
	return o
}

// getJob is GET /v1/{project_id}/visualization-jobs/{job_id}.
func (s *Simulator) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.DetailRequests++
	s.mu.Unlock()
	if s.authenticate(w, r) == "" || !s.delay(r) {
		return
	}
	s.mu.Lock()
	mode := s.opts.Dialect.NotFound
	s.mu.Unlock()
	if mode == NotFoundUnpublished {
		apigError(w, http.StatusNotFound, "APIG.0101", "The API does not exist or has not been published in the environment")
		return
	}
	v := r.PathValue("job_id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Invalid parameter job_id: %q is not an integer", v))
		return
	}
	s.mu.Lock()
	j, ok := s.byID[id]
	var b []byte
	if ok {
		b = append([]byte(`{"is_success":true,`), j.appendJSON(nil)[1:]...)
	}
	s.mu.Unlock()
	if !ok {
		s.answerNotFound(w, mode, id) // dialect.go
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// ---- answers ----

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", contentType)
	if w.Header().Get("X-Request-Id") == "" {
		w.Header().Set("X-Request-Id", randomHex(16))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// modelArtsError answers as the ModelArts service does.
func modelArtsError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := encode(struct {
		IsSuccess    bool   `json:"is_success"`
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	}{false, code, msg})
	writeJSON(w, status, b)
}

// apigError answers as the API gateway does.
func apigError(w http.ResponseWriter, status int, code, msg string) {
	id := randomHex(16)
	w.Header().Set("X-Request-Id", id)
	b, _ := encode(struct {
		ErrorMsg  string `json:"error_msg"`
		ErrorCode string `json:"error_code"`
		RequestID string `json:"request_id"`
	}{msg, code, id})
	writeJSON(w, status, b)
}

// iamError answers as IAM does.
func iamError(w http.ResponseWriter, status int, msg string) {
	type iamErr struct {
		Code    int    `json:"code"`
		Title   string `json:"title"`
		Message string `json:"message"`
	}
	b, _ := encode(struct {
		Error iamErr `json:"error"`
	}{iamErr{status, http.StatusText(status), msg}})
	writeJSON(w, status, b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
