package simulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vizjob/indexer/internal/fetch"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// answer is any JSON answer of the simulator, decoded loosely.
type answer struct {
	Status       int               `json:"-"`
	Header       http.Header       `json:"-"`
	Body         []byte            `json:"-"`
	IsSuccess    *bool             `json:"is_success"`
	TotalCount   int               `json:"job_total_count"`
	CountLimit   int               `json:"job_count_limit"`
	Quotas       int               `json:"quotas"`
	Jobs         []json.RawMessage `json:"jobs"`
	ErrorCode    string            `json:"error_code"`
	ErrorMessage string            `json:"error_message"`
	ErrorMsg     string            `json:"error_msg"`
	RequestID    string            `json:"request_id"`
	Error        *struct {
		Code    int    `json:"code"`
		Title   string `json:"title"`
		Message string `json:"message"`
	} `json:"error"`
}

func newServer(t *testing.T, opts Options) (*Simulator, *httptest.Server) {
	t.Helper()
	sim := New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v\n%s", req.Method, req.URL, err, body)
	}
	return a
}

func listURL(srv *httptest.Server, project string, q url.Values) string {
	u := srv.URL + "/v1/" + project + "/visualization-jobs"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// signedReq builds a request signed as the client does.
func signedReq(t *testing.T, rawURL string, signer fetch.Signer, project string, now time.Time, extra map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", project)
	req.Header.Set(fetch.HeaderSdkDate, now.UTC().Format(fetch.SdkDateFormat))
	req.Header.Set("Host", req.URL.Host)
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	signer.Sign(req, nil, now)
	return req
}

var defaultSigner = fetch.Signer{AK: DefaultAK, SK: DefaultSK}

func signedList(t *testing.T, srv *httptest.Server, q url.Values) answer {
	t.Helper()
	return do(t, signedReq(t, listURL(srv, DefaultProjectID, q), defaultSigner, DefaultProjectID, time.Now(), nil))
}

func tokenList(t *testing.T, srv *httptest.Server, tok string, q url.Values) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, listURL(srv, DefaultProjectID, q), nil)
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	return do(t, req)
}

func passwordBody(user, password, domain, project string) string {
	b, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"name": domain}}}},
		"scope": map[string]any{"project": map[string]any{"id": project}},
	}})
	return string(b)
}

func postToken(t *testing.T, srv *httptest.Server, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/auth/tokens", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	return do(t, req)
}

func issueToken(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	a := postToken(t, srv, passwordBody(DefaultUsername, DefaultPassword, DefaultDomainName, DefaultProjectID))
	if a.Status != http.StatusCreated {
		t.Fatalf("token: status %d: %s", a.Status, a.Body)
	}
	return a.Header.Get("X-Subject-Token")
}

func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.Status != status || a.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s: %s", a.Status, a.ErrorCode, status, code, a.Body)
	}
}

func ids(t *testing.T, raws []json.RawMessage) []int64 {
	t.Helper()
	out := make([]int64, len(raws))
	for i, r := range raws {
		var v struct {
			ID int64 `json:"job_id"`
		}
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out[i] = v.ID
	}
	return out
}

// expectedOrder sorts jobs independently of the simulator: by key, ties by
// job_id ascending.
func expectedOrder(jobs []fetch.Job, key string, desc bool) []int64 {
	jobs = slices.Clone(jobs)
	field := func(j fetch.Job) any {
		switch key {
		case "job_name":
			return j.Name
		case "job_desc":
			return j.Desc
		case "status":
			return int64(j.Status)
		case "duration":
			return j.Duration
		case "create_time":
			return j.CreateTime
		case "log_dir":
			return j.TrainURL
		}
		return j.ID
	}
	slices.SortFunc(jobs, func(a, b fetch.Job) int {
		var c int
		switch fa := field(a).(type) {
		case string:
			c = strings.Compare(fa, field(b).(string))
		case int64:
			c = cmp.Compare(fa, field(b).(int64))
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.ID, b.ID))
	})
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestGenerationIsDeterministic(t *testing.T) {
	a := New(Options{Jobs: 300, Seed: 7}).Jobs()
	b := New(Options{Jobs: 300, Seed: 7}).Jobs()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different jobs")
	}
	c := New(Options{Jobs: 300, Seed: 8}).Jobs()
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same jobs")
	}
	if n := len(New(Options{}).Jobs()); n != 0 {
		t.Fatalf("Jobs: 0 gave %d jobs", n)
	}
}

func TestGeneratedJobsAreRealistic(t *testing.T) {
	epoch := time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)
	jobs := New(Options{Jobs: 537, Seed: 1, Epoch: epoch}).Jobs()
	if len(jobs) != 537 {
		t.Fatalf("got %d jobs", len(jobs))
	}
	name := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	from, to := epoch.AddDate(0, 0, -365).UnixMilli(), epoch.UnixMilli()
	statuses := map[int]int{}
	var ties, withResource, nullRemaining, withExtra, undocumented int
	var descKinds = map[string]bool{}
	for i, j := range jobs {
		statuses[j.Status]++
		if j.Status > 22 {
			undocumented++
		}
		if i > 0 {
			if j.ID <= jobs[i-1].ID {
				t.Fatalf("ids not increasing: %d after %d", j.ID, jobs[i-1].ID)
			}
			if j.CreateTime < jobs[i-1].CreateTime {
				t.Fatalf("create_time decreases at job %d", j.ID)
			}
			if j.CreateTime == jobs[i-1].CreateTime {
				ties++
			}
		}
		if j.CreateTime < from || j.CreateTime >= to {
			t.Errorf("job %d: create_time %d outside the year before the epoch", j.ID, j.CreateTime)
		}
		if !name.MatchString(j.Name) {
			t.Errorf("job %d: name %q", j.ID, j.Name)
		}
		if !started(j.Status) && j.Duration != 0 || started(j.Status) && j.Duration <= 0 {
			t.Errorf("job %d: status %d with duration %d", j.ID, j.Status, j.Duration)
		}
		if (j.ServiceURL != "") != serving(j.Status) {
			t.Errorf("job %d: status %d with service_url %q", j.ID, j.Status, j.ServiceURL)
		}
		if want := fmt.Sprintf("/experiments/%s/", j.Name); !strings.Contains(j.TrainURL, want) {
			t.Errorf("job %d: train_url %q", j.ID, j.TrainURL)
		}
		// Raw decodes to the typed fields.
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(j.Raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("job %d: raw %s: %v", j.ID, j.Raw, err)
		}
		if m["job_id"].(json.Number).String() != strconv.FormatInt(j.ID, 10) || m["job_name"] != j.Name ||
			m["job_desc"] != j.Desc || m["train_url"] != j.TrainURL {
			t.Errorf("job %d: raw %s disagrees with %+v", j.ID, j.Raw, j)
		}
		if j.ResourceID != "" {
			withResource++
		}
		if v, ok := m["remaining_duration"]; ok && v == nil {
			nullRemaining++
		}
		if len(m) > 10 {
			withExtra++
		}
		for kind, re := range map[string]*regexp.Regexp{
			"chinese": regexp.MustCompile(`\p{Han}`), "emoji": regexp.MustCompile(`[\x{1F300}-\x{1FAFF}]`),
			"quote": regexp.MustCompile(`"`), "backslash": regexp.MustCompile(`\\`),
			"newline": regexp.MustCompile(`\n`), "tab": regexp.MustCompile(`\t`),
		} {
			if re.MatchString(j.Desc) {
				descKinds[kind] = true
			}
		}
		if j.Desc == "" {
			descKinds["empty"] = true
		}
		if utf8.RuneCountInString(j.Desc) >= 200 {
			descKinds["long"] = true
		}
	}
	for st := 0; st <= 22; st++ {
		if statuses[st] == 0 {
			t.Errorf("status %d never generated", st)
		}
	}
	for _, st := range []int{10, 11, 12} {
		if statuses[st] < 20 {
			t.Errorf("status %d only %d times", st, statuses[st])
		}
	}
	// As in a real one-year history, most jobs have ended; those that have not are recent.
	// (Every documented status appears at least once: those that are not final on the newest jobs.)
	ended, recent, newest := 0, to-activeDays*24*3600*1000, len(jobs)-max(len(jobs)/20, 23)
	for i, j := range jobs {
		switch {
		case final(j.Status):
			ended++
		case j.Status <= 22 && j.CreateTime < recent && i < newest:
			t.Errorf("job %d: status %d (not final) but created %d days before the epoch", j.ID, j.Status, (to-j.CreateTime)/86_400_000)
		}
	}
	if ended < len(jobs)*9/10 {
		t.Errorf("%d of %d jobs have a final status, want at least 90%%", ended, len(jobs))
	}
	if undocumented == 0 || ties == 0 || withExtra == 0 {
		t.Errorf("undocumented statuses %d, create_time ties %d, jobs with extra fields %d", undocumented, ties, withExtra)
	}
	if withResource < 537*7/10 || withResource > 537*9/10 {
		t.Errorf("%d of 537 jobs have a resource_id", withResource)
	}
	if nullRemaining < 537*4/10 || nullRemaining > 537*6/10 {
		t.Errorf("%d of 537 jobs have remaining_duration null", nullRemaining)
	}
	for _, kind := range []string{"empty", "chinese", "emoji", "quote", "backslash", "newline", "tab", "long"} {
		if !descKinds[kind] {
			t.Errorf("no description is %s", kind)
		}
	}
}

func TestAKSKAuthentication(t *testing.T) {
	_, srv := newServer(t, Options{Jobs: 20, Seed: 1})

	a := signedList(t, srv, url.Values{"page": {"1"}, "per_page": {"100"}})
	if a.Status != http.StatusOK || a.IsSuccess == nil || !*a.IsSuccess || a.TotalCount != 20 || len(a.Jobs) != 20 {
		t.Fatalf("signed list: %d %s", a.Status, a.Body)
	}

	bad := do(t, signedReq(t, listURL(srv, DefaultProjectID, nil), fetch.Signer{AK: DefaultAK, SK: "wrong"}, DefaultProjectID, time.Now(), nil))
	wantError(t, bad, http.StatusUnauthorized, "APIG.0301")
	if bad.ErrorMsg != "Incorrect IAM authentication information: verify aksk signature fail" || bad.RequestID == "" {
		t.Fatalf("bad signature answer: %s", bad.Body)
	}

	for name, req := range map[string]*http.Request{
		"unknown AK": signedReq(t, listURL(srv, DefaultProjectID, nil), fetch.Signer{AK: "OTHERKEY", SK: DefaultSK}, DefaultProjectID, time.Now(), nil),
		"old date":   signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, time.Now().Add(-16*time.Minute), nil),
		"future":     signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, time.Now().Add(16*time.Minute), nil),
		"tampered query": func() *http.Request {
			r := signedReq(t, listURL(srv, DefaultProjectID, url.Values{"page": {"1"}}), defaultSigner, DefaultProjectID, time.Now(), nil)
			r.URL.RawQuery = "page=2"
			return r
		}(),
		"date not signed": func() *http.Request {
			r := signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, time.Now(), nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-sdk-date", "", 1))
			return r
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, do(t, req), http.StatusUnauthorized, "APIG.0301")
			// A success resets the count of failures in a row, so these
			// failures never lock the key.
			if a := signedList(t, srv, nil); a.Status != http.StatusOK {
				t.Fatalf("after the failure: %d %s", a.Status, a.Body)
			}
		})
	}
}

func TestAKSKLockout(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	_, srv := newServer(t, Options{Jobs: 5, Now: clk.Now})
	good := func() answer {
		return do(t, signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, clk.Now(), nil))
	}
	bad := func() answer {
		return do(t, signedReq(t, listURL(srv, DefaultProjectID, nil), fetch.Signer{AK: DefaultAK, SK: "nope"}, DefaultProjectID, clk.Now(), nil))
	}

	// Four failures, then a success, reset the count.
	for range 4 {
		wantError(t, bad(), http.StatusUnauthorized, "APIG.0301")
	}
	if a := good(); a.Status != http.StatusOK {
		t.Fatalf("after 4 failures: %d %s", a.Status, a.Body)
	}
	for range 5 {
		wantError(t, bad(), http.StatusUnauthorized, "APIG.0301")
	}
	a := good()
	wantError(t, a, http.StatusUnauthorized, "APIG.0301")
	if !strings.Contains(a.ErrorMsg, "locked") {
		t.Fatalf("locked key answer does not say so: %s", a.Body)
	}
	clk.Advance(4 * time.Minute)
	wantError(t, good(), http.StatusUnauthorized, "APIG.0301")
	clk.Advance(time.Minute + time.Second)
	if a := good(); a.Status != http.StatusOK {
		t.Fatalf("after the lock: %d %s", a.Status, a.Body)
	}
}

func TestSecurityToken(t *testing.T) {
	_, srv := newServer(t, Options{Jobs: 3, SecurityToken: "temporary-token"})
	wantError(t, signedList(t, srv, nil), http.StatusUnauthorized, "APIG.0301")
	wrong := signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, time.Now(), map[string]string{"X-Security-Token": "other"})
	wantError(t, do(t, wrong), http.StatusUnauthorized, "APIG.0301")
	ok := signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, DefaultProjectID, time.Now(), map[string]string{"X-Security-Token": "temporary-token"})
	if a := do(t, ok); a.Status != http.StatusOK {
		t.Fatalf("with the security token: %d %s", a.Status, a.Body)
	}
}

func TestTokenLifecycle(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	sim, srv := newServer(t, Options{Jobs: 5, Now: clk.Now, TokenTTL: time.Hour})

	a := postToken(t, srv, passwordBody(DefaultUsername, DefaultPassword, DefaultDomainName, DefaultProjectID))
	tok := a.Header.Get("X-Subject-Token")
	if a.Status != http.StatusCreated || len(tok) < 32 {
		t.Fatalf("token: %d %q %s", a.Status, tok, a.Body)
	}
	var body struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
			IssuedAt  time.Time `json:"issued_at"`
			Methods   []string  `json:"methods"`
			Project   struct{ ID, Name string }
			User      struct {
				Name   string
				Domain struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(a.Body, &body); err != nil {
		t.Fatal(err)
	}
	if !body.Token.ExpiresAt.Equal(clk.Now().Add(time.Hour)) || !body.Token.IssuedAt.Equal(clk.Now()) ||
		body.Token.Project.ID != DefaultProjectID || body.Token.User.Name != DefaultUsername ||
		body.Token.User.Domain.Name != DefaultDomainName || !slices.Equal(body.Token.Methods, []string{"password"}) {
		t.Fatalf("token body: %s", a.Body)
	}
	if other := issueToken(t, srv); other == tok {
		t.Fatal("two tokens are equal")
	}

	if a := tokenList(t, srv, tok, nil); a.Status != http.StatusOK || a.TotalCount != 5 {
		t.Fatalf("token list: %d %s", a.Status, a.Body)
	}
	wantError(t, tokenList(t, srv, "", nil), http.StatusUnauthorized, "ModelArts.0201")
	wantError(t, tokenList(t, srv, "not-a-token", nil), http.StatusUnauthorized, "ModelArts.0203")

	sim.ExpireTokens()
	a = tokenList(t, srv, tok, nil)
	wantError(t, a, http.StatusUnauthorized, "ModelArts.0202")
	if a.IsSuccess == nil || *a.IsSuccess || a.ErrorMessage == "" {
		t.Fatalf("expired answer: %s", a.Body)
	}
	fresh := issueToken(t, srv)
	if a := tokenList(t, srv, fresh, nil); a.Status != http.StatusOK {
		t.Fatalf("fresh token: %d %s", a.Status, a.Body)
	}
	clk.Advance(time.Hour)
	wantError(t, tokenList(t, srv, fresh, nil), http.StatusUnauthorized, "ModelArts.0202")

	st := sim.Stats()
	if st.TokenRequests != 3 || st.AuthFailures != 4 {
		t.Fatalf("stats: %d token requests, %d auth failures", st.TokenRequests, st.AuthFailures)
	}
}

func TestIAMRejects(t *testing.T) {
	_, srv := newServer(t, Options{})
	for name, tc := range map[string]struct {
		body   string
		status int
	}{
		"wrong password": {passwordBody(DefaultUsername, "guess", DefaultDomainName, DefaultProjectID), 401},
		"wrong user":     {passwordBody("someone", DefaultPassword, DefaultDomainName, DefaultProjectID), 401},
		"wrong domain":   {passwordBody(DefaultUsername, DefaultPassword, "other", DefaultProjectID), 401},
		"wrong project":  {passwordBody(DefaultUsername, DefaultPassword, DefaultDomainName, "ffff"), 401},
		"malformed":      {`{"auth":`, 400},
		"not an object":  {`[]`, 400},
		"no password":    {`{"auth":{"identity":{"methods":["token"]}}}`, 400},
	} {
		t.Run(name, func(t *testing.T) {
			a := postToken(t, srv, tc.body)
			if a.Status != tc.status || a.Error == nil || a.Error.Code != tc.status || a.Error.Title == "" || a.Error.Message == "" {
				t.Fatalf("got %d %s", a.Status, a.Body)
			}
			if a.Header.Get("X-Subject-Token") != "" {
				t.Fatal("a token was issued")
			}
			if tc.status == 401 && name != "wrong project" && a.Error.Message != "The username or password is wrong." {
				t.Fatalf("message %q", a.Error.Message)
			}
		})
	}
}

func TestProjectMismatch(t *testing.T) {
	_, srv := newServer(t, Options{Jobs: 3})
	other := "ffffffffffffffffffffffffffffffff"
	wantError(t, do(t, signedReq(t, listURL(srv, other, nil), defaultSigner, other, time.Now(), nil)), http.StatusForbidden, "ModelArts.0210")
	wantError(t, do(t, signedReq(t, listURL(srv, DefaultProjectID, nil), defaultSigner, other, time.Now(), nil)), http.StatusForbidden, "ModelArts.0210")
	tok := issueToken(t, srv)
	req, _ := http.NewRequest(http.MethodGet, listURL(srv, other, nil), nil)
	req.Header.Set("X-Auth-Token", tok)
	wantError(t, do(t, req), http.StatusForbidden, "ModelArts.0210")
}

func TestSortSpellingFollowsAuthMode(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 90, Seed: 3})
	jobs := sim.Jobs()
	tok := issueToken(t, srv)
	byName := expectedOrder(jobs, "job_name", false)
	byTimeDesc := expectedOrder(jobs, "create_time", true)

	for _, tc := range []struct {
		name  string
		list  func(url.Values) answer
		param string
		other string
	}{
		{name: "aksk", list: func(q url.Values) answer { return signedList(t, srv, q) }, param: "sortBy", other: "sort_by"},
		{name: "token", list: func(q url.Values) answer { return tokenList(t, srv, tok, q) }, param: "sort_by", other: "sortBy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.list(url.Values{"per_page": {"100"}, tc.param: {"create_time"}, "order": {"desc"}})
			if got := ids(t, a.Jobs); !slices.Equal(got, byTimeDesc) {
				t.Fatalf("%s=create_time desc: got %v\nwant %v", tc.param, got, byTimeDesc)
			}
			a = tc.list(url.Values{"per_page": {"100"}, tc.other: {"create_time"}})
			if got := ids(t, a.Jobs); !slices.Equal(got, byName) {
				t.Fatalf("%s is not ignored: got %v\nwant %v", tc.other, got, byName)
			}
			a = tc.list(url.Values{tc.param: {"size"}})
			wantError(t, a, http.StatusBadRequest, "ModelArts.0104")
			a = tc.list(url.Values{tc.other: {"size"}})
			if a.Status != http.StatusOK {
				t.Fatalf("unknown key in the ignored spelling: %d %s", a.Status, a.Body)
			}
			for _, key := range []string{"job_name", "job_desc", "status", "duration", "create_time", "log_dir", "job_id"} {
				for _, order := range []string{"asc", "desc"} {
					a := tc.list(url.Values{"per_page": {"100"}, tc.param: {key}, "order": {order}})
					if got, want := ids(t, a.Jobs), expectedOrder(jobs, key, order == "desc"); !slices.Equal(got, want) {
						t.Fatalf("%s %s: got %v\nwant %v", key, order, got, want)
					}
				}
			}
		})
	}
}

func TestBadParameters(t *testing.T) {
	_, srv := newServer(t, Options{Jobs: 3, MaxPerPage: 100})
	for _, tc := range []struct {
		q     url.Values
		names string
	}{
		{q: url.Values{"per_page": {"0"}}, names: "per_page"},
		{q: url.Values{"per_page": {"101"}}, names: "per_page"},
		{q: url.Values{"per_page": {"ten"}}, names: "per_page"},
		{q: url.Values{"page": {"0"}}, names: "page"},
		{q: url.Values{"page": {"1.5"}}, names: "page"},
		{q: url.Values{"order": {"up"}}, names: "order"},
		{q: url.Values{"status": {"running"}}, names: "status"},
		{q: url.Values{"search_content": {strings.Repeat("训", 101)}}, names: "search_content"},
		{q: url.Values{"sortBy": {"name"}}, names: "sortBy"},
	} {
		a := signedList(t, srv, tc.q)
		wantError(t, a, http.StatusBadRequest, "ModelArts.0104")
		if !strings.Contains(a.ErrorMessage, tc.names) {
			t.Errorf("%v: message %q does not name %s", tc.q, a.ErrorMessage, tc.names)
		}
	}
	for _, q := range []url.Values{
		{"per_page": {"100"}, "page": {"999999999999"}},
		{"search_content": {strings.Repeat("训", 100)}},
		{"workspace_id": {"0"}, "status": {"99"}},
	} {
		if a := signedList(t, srv, q); a.Status != http.StatusOK {
			t.Errorf("%v: %d %s", q, a.Status, a.Body)
		}
	}
}

func TestFilters(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 537, Seed: 5})
	jobs := sim.Jobs()
	tok := issueToken(t, srv)
	count := func(keep func(fetch.Job) bool) (n int) {
		for _, j := range jobs {
			if keep(j) {
				n++
			}
		}
		return n
	}
	for _, st := range []int{8, 10, 0, 22} {
		want := count(func(j fetch.Job) bool { return j.Status == st })
		a := tokenList(t, srv, tok, url.Values{"status": {strconv.Itoa(st)}, "per_page": {"100"}})
		if a.TotalCount != want || len(a.Jobs) != min(want, 100) {
			t.Errorf("status %d: total %d, %d jobs; want %d", st, a.TotalCount, len(a.Jobs), want)
		}
	}
	want := count(func(j fetch.Job) bool { return strings.Contains(strings.ToLower(j.Name), "resnet") })
	a := signedList(t, srv, url.Values{"search_content": {"ResNet"}, "per_page": {"5"}})
	if want == 0 || a.TotalCount != want || len(a.Jobs) != 5 {
		t.Errorf("search: total %d, %d jobs; want %d", a.TotalCount, len(a.Jobs), want)
	}
	want = count(func(j fetch.Job) bool { return j.Status == 8 && strings.Contains(strings.ToLower(j.Name), "tb") })
	a = signedList(t, srv, url.Values{"search_content": {"TB"}, "status": {"8"}})
	if a.TotalCount != want {
		t.Errorf("status and search: total %d, want %d", a.TotalCount, want)
	}
}

func TestPaginationCoversEveryJob(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 537, Seed: 9})
	jobs := sim.Jobs()
	raws := map[int64]string{}
	for _, j := range jobs {
		raws[j.ID] = string(j.Raw)
	}
	for _, key := range []string{"job_name", "create_time", "status"} {
		seen := map[int64]bool{}
		for page := 1; ; page++ {
			a := signedList(t, srv, url.Values{"page": {strconv.Itoa(page)}, "per_page": {"100"}, "sortBy": {key}})
			if a.Status != http.StatusOK || a.TotalCount != len(jobs) {
				t.Fatalf("page %d: %d total %d", page, a.Status, a.TotalCount)
			}
			if a.CountLimit != max(0, 999-len(jobs)) || a.Quotas == 0 {
				t.Fatalf("page %d: quotas %d, job_count_limit %d", page, a.Quotas, a.CountLimit)
			}
			if len(a.Jobs) == 0 {
				if !bytes.Contains(a.Body, []byte(`"jobs":[]`)) {
					t.Fatalf("past the end: %s", a.Body)
				}
				break
			}
			for _, raw := range a.Jobs {
				id := ids(t, []json.RawMessage{raw})[0]
				if seen[id] {
					t.Fatalf("%s: job %d served twice", key, id)
				}
				seen[id] = true
				if string(raw) != raws[id] {
					t.Fatalf("job %d served as\n%s\nJobs() says\n%s", id, raw, raws[id])
				}
			}
		}
		if len(seen) != len(jobs) {
			t.Fatalf("%s: %d of %d jobs served", key, len(seen), len(jobs))
		}
	}
}

func TestDetail(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 10, Seed: 2})
	j := sim.Jobs()[4]
	u := srv.URL + "/v1/" + DefaultProjectID + "/visualization-jobs/"
	a := do(t, signedReq(t, u+strconv.FormatInt(j.ID, 10), defaultSigner, DefaultProjectID, time.Now(), nil))
	if a.Status != http.StatusOK || a.IsSuccess == nil || !*a.IsSuccess {
		t.Fatalf("detail: %d %s", a.Status, a.Body)
	}
	if want := `{"is_success":true,` + string(j.Raw[1:]); string(a.Body) != want {
		t.Fatalf("detail\n%s\nwant\n%s", a.Body, want)
	}
	wantError(t, do(t, signedReq(t, u+"1", defaultSigner, DefaultProjectID, time.Now(), nil)), http.StatusNotFound, "ModelArts.0105")
	wantError(t, do(t, signedReq(t, u+"abc", defaultSigner, DefaultProjectID, time.Now(), nil)), http.StatusBadRequest, "ModelArts.0104")
	req, _ := http.NewRequest(http.MethodGet, u+strconv.FormatInt(j.ID, 10), nil)
	wantError(t, do(t, req), http.StatusUnauthorized, "ModelArts.0201")

	for _, path := range []string{"/", "/v2/" + DefaultProjectID + "/visualization-jobs", "/v1/" + DefaultProjectID + "/training-jobs"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if a := do(t, req); a.Status != http.StatusNotFound || a.ErrorCode == "" {
			t.Errorf("%s: %d %s", path, a.Status, a.Body)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, listURL(srv, DefaultProjectID, nil), nil)
	if a := do(t, req); a.Status != http.StatusNotFound {
		t.Errorf("POST list: %d %s", a.Status, a.Body)
	}
	if st := sim.Stats(); st.DetailRequests != 4 {
		t.Errorf("detail requests %d", st.DetailRequests)
	}
}

// keys lists the top-level keys of a JSON object in order.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestMutations(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 50, Seed: 4})
	before := sim.Jobs()
	last := before[len(before)-1]
	all := url.Values{"per_page": {"100"}, "sortBy": {"job_id"}}

	created := sim.CreateJob()
	if created.ID <= last.ID || created.CreateTime <= last.CreateTime || created.CreateTime > last.CreateTime+60_000 {
		t.Fatalf("created %+v after %+v", created, last)
	}
	a := signedList(t, srv, all)
	if a.TotalCount != 51 || ids(t, a.Jobs)[50] != created.ID {
		t.Fatalf("created job not listed: total %d", a.TotalCount)
	}

	if !sim.SetStatus(created.ID, 8, 90*time.Second) {
		t.Fatal("SetStatus: job missing")
	}
	j, _ := sim.Job(created.ID)
	if j.Status != 8 || j.Duration != created.Duration+90_000 || !strings.Contains(j.ServiceURL, strconv.FormatInt(j.ID, 10)) {
		t.Fatalf("after SetStatus: %+v", j)
	}
	if !sim.UpdateJob(created.ID, func(s *JobState) {
		s.Desc = `new "desc" <b>`
		s.ResourceID = ""
		s.HasRemainingDuration, s.RemainingDuration = true, new(int64(42))
		s.Extra = map[string]any{"zeta": 1, "alpha": map[string]any{"y": []int{1}}, "job_id": 7}
		s.ID = 1 // undone
	}) {
		t.Fatal("UpdateJob: job missing")
	}
	j, _ = sim.Job(created.ID)
	wantKeys := []string{"job_id", "job_name", "status", "create_time", "duration", "job_desc", "service_url", "train_url", "remaining_duration", "alpha", "zeta"}
	if got := keys(t, j.Raw); !slices.Equal(got, wantKeys) {
		t.Fatalf("keys %v, want %v", got, wantKeys)
	}
	if !bytes.Contains(j.Raw, []byte(`"job_desc":"new \"desc\" <b>"`)) || !bytes.Contains(j.Raw, []byte(`"remaining_duration":42,"alpha":{"y":[1]},"zeta":1}`)) {
		t.Fatalf("raw %s", j.Raw)
	}
	a = signedList(t, srv, all)
	if got := a.Jobs[50]; string(got) != string(j.Raw) {
		t.Fatalf("list serves\n%s\nJobs() says\n%s", got, j.Raw)
	}

	victim := before[10].ID
	if !sim.DeleteJob(victim) || sim.DeleteJob(victim) {
		t.Fatal("DeleteJob")
	}
	if _, ok := sim.Job(victim); ok {
		t.Fatal("deleted job still there")
	}
	a = signedList(t, srv, all)
	if a.TotalCount != 50 || slices.Contains(ids(t, a.Jobs), victim) || len(sim.Jobs()) != 50 {
		t.Fatalf("deleted job still listed: total %d", a.TotalCount)
	}
	// A new job never reuses an id, even the latest deleted one.
	sim.DeleteJob(created.ID)
	if again := sim.CreateJob(); again.ID <= created.ID {
		t.Fatalf("id %d reused after %d", again.ID, created.ID)
	}
	if sim.SetStatus(victim, 10, 0) || sim.UpdateJob(victim, func(*JobState) {}) {
		t.Fatal("mutated a deleted job")
	}
}

func TestStatsRecordRequests(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 5})
	tok := issueToken(t, srv)
	signedList(t, srv, url.Values{"sortBy": {"create_time"}, "per_page": {"100"}})
	tokenList(t, srv, tok, url.Values{"sort_by": {"job_id"}})
	tokenList(t, srv, "", nil)

	st := sim.Stats()
	if st.ListRequests != 3 || st.TokenRequests != 1 || st.AuthFailures != 1 || len(st.Requests) != 4 {
		t.Fatalf("stats %+v", st)
	}
	want := []struct {
		auth   string
		status int
		sort   string
	}{{auth: AuthPassword, status: 201, sort: ""}, {auth: AuthAKSK, status: 200, sort: "create_time"}, {auth: AuthToken, status: 200, sort: ""}, {auth: AuthNone, status: 401, sort: ""}}
	for i, w := range want {
		r := st.Requests[i]
		if r.Auth != w.auth || r.Status != w.status || r.Query().Get("sortBy") != w.sort {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	if st.Requests[2].Query().Get("sort_by") != "job_id" || st.Requests[1].Path != "/v1/"+DefaultProjectID+"/visualization-jobs" {
		t.Errorf("requests %+v", st.Requests)
	}
	sim.ResetStats()
	if st := sim.Stats(); st.ListRequests != 0 || len(st.Requests) != 0 {
		t.Fatalf("after reset %+v", st)
	}
}

func TestConcurrentRequests(t *testing.T) {
	sim, srv := newServer(t, Options{Jobs: 300, Seed: 6})
	tok := issueToken(t, srv)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for page := 1; page <= 4; page++ {
				q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {"100"}}
				var a answer
				if g%2 == 0 {
					q.Set("sortBy", "create_time")
					a = signedList(t, srv, q)
				} else {
					q.Set("sort_by", "status")
					a = tokenList(t, srv, tok, q)
				}
				if a.Status != http.StatusOK {
					t.Errorf("page %d: %d %s", page, a.Status, a.Body)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			j := sim.CreateJob()
			sim.SetStatus(j.ID, 8, time.Minute)
			sim.UpdateJob(j.ID, func(s *JobState) { s.Name = fmt.Sprintf("concurrent-%d", i) })
			if i%2 == 0 {
				sim.DeleteJob(j.ID)
			}
			_ = sim.Jobs()
			_ = sim.Stats()
		}
	})
	wg.Wait()
	sim.ExpireTokens()
	if n := len(sim.Jobs()); n != 325 {
		t.Fatalf("%d jobs after the concurrent changes", n)
	}
}

// The demo and `indexer simulate` use the default epoch: jobs must be created
// up to the moment the simulator starts, whatever the day, so that "the last
// 30 days" of the status page and of the README's queries have data.
func TestDefaultEpochIsNow(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2031, 6, 15, 12, 30, 0, 0, time.UTC),
	} {
		jobs := New(Options{Jobs: 500, Seed: 1, Now: func() time.Time { return at }}).Jobs()
		recent := 0
		for _, j := range jobs {
			if j.CreateTime > at.UnixMilli() {
				t.Fatalf("at %s: job %d created in the future (%d)", at, j.ID, j.CreateTime)
			}
			if j.CreateTime >= at.AddDate(0, 0, -30).UnixMilli() {
				recent++
			}
		}
		if recent < 10 {
			t.Errorf("at %s: %d of %d jobs created in the last 30 days, want at least 10", at, recent, len(jobs))
		}
	}
}

// TestEveryStatusGenerated: from 100 jobs on, every documented status appears whatever the seed, the
// statuses that are not final among the newest jobs.
func TestEveryStatusGenerated(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 30; seed++ {
		n := 100 + int(seed)*7
		jobs := New(Options{Jobs: n, Seed: seed}).Jobs()
		seen := map[int]bool{}
		for _, j := range jobs {
			seen[j.Status] = true
		}
		for st := range 23 {
			if !seen[st] {
				t.Errorf("seed %d, %d jobs: status %d never generated", seed, n, st)
			}
		}
	}
}
