package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/testdiff"

	"github.com/vizjob/indexer/internal/fetch"
)

// rawAnswer is whatever came back, transport errors included.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
	err    error // from the round trip or from reading the body
}

// rawList sends one signed list request on a fresh connection and reads the
// answer without judging it.
func rawList(t *testing.T, srv *httptest.Server, q url.Values, timeout time.Duration) rawAnswer {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: timeout}
	defer client.CloseIdleConnections()
	req := signedReq(t, listURL(srv, DefaultProjectID, q), defaultSigner, DefaultProjectID, time.Now(), nil)
	resp, err := client.Do(req)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

func faultServer(t *testing.T, jobs int, f Faults) (*Simulator, *httptest.Server) {
	t.Helper()
	sim, srv := newServer(t, Options{Jobs: jobs, Seed: 7})
	if err := sim.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	return sim, srv
}

var page = func(n, per int) url.Values {
	return url.Values{"page": {strconv.Itoa(n)}, "per_page": {strconv.Itoa(per)}, "sortBy": {"create_time"}}
}

func TestFaultThrottle(t *testing.T) {
	for _, date := range []bool{false, true} {
		t.Run("http-date="+strconv.FormatBool(date), func(t *testing.T) {
			sim, srv := faultServer(t, 30, Faults{ThrottleEvery: 2, RetryAfter: 3 * time.Second, RetryAfterHTTPDate: date})
			for i := 1; i <= 4; i++ {
				a := rawList(t, srv, page(1, 10), 0)
				if a.err != nil {
					t.Fatal(a.err)
				}
				want := http.StatusOK
				if i%2 == 0 {
					want = http.StatusTooManyRequests
				}
				if a.status != want {
					t.Fatalf("request %d: status %d, want %d", i, a.status, want)
				}
				if a.status != http.StatusTooManyRequests {
					continue
				}
				var e struct {
					Code string `json:"error_code"`
				}
				if json.Unmarshal(a.body, &e) != nil || e.Code != "APIG.0308" {
					t.Errorf("429 body %s, want APIG.0308", a.body)
				}
				ra := a.header.Get("Retry-After")
				ev := sim.FaultEvents()[i-1]
				if ev.Kind != FaultThrottle || ev.Status != 429 {
					t.Fatalf("event %+v, want a throttle", ev)
				}
				if date {
					at, err := http.ParseTime(ra)
					if err != nil || !at.Equal(ev.RetryUntil) || at.Before(ev.At.Add(2*time.Second)) {
						t.Errorf("Retry-After %q, event until %s at %s: want an HTTP-date 2 to 3 seconds ahead", ra, ev.RetryUntil, ev.At)
					}
				} else if ra != "3" || !ev.RetryUntil.Equal(ev.At.Add(3*time.Second)) {
					t.Errorf("Retry-After %q, event %+v: want 3 seconds", ra, ev)
				}
			}
		})
	}
}

func TestFaultServerErrorsAreHTML(t *testing.T) {
	_, srv := faultServer(t, 5, Faults{ServerErrorEvery: 1})
	for _, want := range []int{502, 503, 504, 502} {
		a := rawList(t, srv, page(1, 10), 0)
		if a.err != nil || a.status != want || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(a.body), "<title>"+strconv.Itoa(want)) {
			t.Fatalf("got %d %q %s (%v), want an HTML %d", a.status, a.header.Get("Content-Type"), a.body, a.err, want)
		}
	}
}

func TestFaultTruncate(t *testing.T) {
	_, srv := faultServer(t, 20, Faults{TruncateEvery: 1})
	// First occurrence: shorter than its Content-Length, the connection closes.
	a := rawList(t, srv, page(1, 10), 0)
	if !errors.Is(a.err, io.ErrUnexpectedEOF) {
		t.Errorf("first truncation: %d, %d bytes, error %v; want unexpected EOF", a.status, len(a.body), a.err)
	}
	// Second: a complete-looking answer of half the JSON.
	a = rawList(t, srv, page(1, 10), 0)
	if a.err != nil || a.status != 200 || json.Valid(a.body) || len(a.body) == 0 {
		t.Errorf("second truncation: %d, %q, %v; want 200 with a cut JSON body", a.status, a.body, a.err)
	}
	if _, err := fetch.DecodePage(a.body); !errors.Is(err, fetch.ErrDecode) {
		t.Errorf("a cut body decoded: %v", err)
	}
}

func TestFaultSlow(t *testing.T) {
	// Margins for a loaded machine: the normal answer has a minute, the slow one would take ten.
	sim, srv := faultServer(t, 5, Faults{SlowEvery: 2, SlowDelay: 10 * time.Minute})
	if a := rawList(t, srv, page(1, 10), time.Minute); a.err != nil || a.status != 200 {
		t.Fatalf("request 1: %d, %v", a.status, a.err)
	}
	start := time.Now()
	a := rawList(t, srv, page(1, 10), 100*time.Millisecond)
	if a.err == nil {
		t.Fatalf("request 2 answered %d before the client's timeout", a.status)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("the slow request took %s: the client's timeout did not end it", time.Since(start))
	}
	if ev := sim.FaultEvents(); len(ev) != 2 || ev[1].Kind != FaultSlow {
		t.Errorf("events %+v, want the second slow", ev)
	}
}

func TestFaultReset(t *testing.T) {
	sim, srv := faultServer(t, 5, Faults{ResetEvery: 1})
	if a := rawList(t, srv, page(1, 10), 0); a.err == nil {
		t.Fatalf("a reset connection answered %d", a.status)
	}
	st := sim.Stats()
	for deadline := time.Now().Add(5 * time.Second); len(st.Requests) == 0 && time.Now().Before(deadline); st = sim.Stats() {
		time.Sleep(10 * time.Millisecond) // the server logs the request after the client saw the reset
	}
	if len(st.Requests) != 1 || st.Requests[0].Status != 0 {
		t.Errorf("request log %+v, want one request with status 0", st.Requests)
	}
}

func TestFaultContentTypes(t *testing.T) {
	_, srv := faultServer(t, 5, Faults{WrongContentTypeEvery: 1})
	a := rawList(t, srv, page(1, 10), 0)
	if a.err != nil || a.status != 200 || a.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("got %d %q (%v)", a.status, a.header.Get("Content-Type"), a.err)
	}
	if p, err := fetch.DecodePage(a.body); err != nil || len(p.Jobs) != 5 {
		t.Errorf("the JSON labelled text/html: %v", err)
	}

	_, srv = faultServer(t, 5, Faults{HTMLPageEvery: 1})
	a = rawList(t, srv, page(1, 10), 0)
	if a.err != nil || a.status != 200 || !strings.HasPrefix(string(a.body), "<!DOCTYPE html>") {
		t.Fatalf("got %d %q (%v), want a 200 HTML page", a.status, a.body, a.err)
	}
}

func TestFaultTokenExpiry(t *testing.T) {
	_, srv := faultServer(t, 5, Faults{ExpireTokensAfter: 2})
	tok := issueToken(t, srv)
	for i := 1; i <= 2; i++ {
		if a := tokenList(t, srv, tok, page(1, 10)); a.Status != 200 {
			t.Fatalf("request %d: %d %s", i, a.Status, a.Body)
		}
	}
	wantError(t, tokenList(t, srv, tok, page(1, 10)), 401, "ModelArts.0202")
	if a := tokenList(t, srv, issueToken(t, srv), page(1, 10)); a.Status != 200 {
		t.Fatalf("a new token: %d %s", a.Status, a.Body)
	}
}

func TestFaultBadItems(t *testing.T) {
	t.Parallel()
	f := Faults{BadItems: badKinds, BadItemEvery: 3}
	sim, srv := faultServer(t, 60, f)
	want := map[int64]string{}
	for _, j := range sim.Jobs() {
		if k := f.BadKind(j.ID); k != "" {
			want[j.ID] = k
		}
	}
	seenKinds := map[string]bool{}
	var bad, huge int
	for p := 1; p <= 2; p++ {
		a := rawList(t, srv, page(p, 30), 0)
		pg, err := fetch.DecodePage(a.body)
		if err != nil {
			t.Fatal(err)
		}
		bad += len(pg.BadItems)
		for _, b := range pg.BadItems {
			if b.JobID != nil {
				seenKinds[want[*b.JobID]] = true
			}
		}
		for _, j := range pg.Jobs {
			if want[j.ID] == BadHugeDesc {
				huge++
				if j.Desc != HugeDescription() {
					t.Errorf("job %d: description of %d bytes, want the huge one", j.ID, len(j.Desc))
				}
			} else if want[j.ID] != "" {
				t.Errorf("job %d decoded though it was made %s", j.ID, want[j.ID])
			}
		}
	}
	wantBad := 0
	for _, k := range want {
		if k != BadHugeDesc {
			wantBad++
		}
	}
	if bad != wantBad || huge != len(want)-wantBad || huge == 0 {
		t.Errorf("%d bad items and %d huge descriptions, want %d and %d", bad, huge, wantBad, len(want)-wantBad)
	}
	for _, k := range []string{BadWrongType, BadNegativeDuration} { // the kinds that keep a usable job_id
		if !seenKinds[k] {
			t.Errorf("no bad item of kind %s kept its job_id", k)
		}
	}
	only := Faults{BadItems: []string{BadWrongType, BadMissingID}, BadItemIDs: []int64{7, 99}}
	if only.BadKind(7) != BadWrongType || only.BadKind(99) != BadMissingID || only.BadKind(100) != "" {
		t.Errorf("BadItemIDs: kinds %q %q %q", only.BadKind(7), only.BadKind(99), only.BadKind(100))
	}
	if n := len(HugeDescription()); n > 1<<20 || n < 1<<20-8 {
		t.Errorf("huge description of %d bytes, want 1 MiB", n)
	}
}

func TestFaultDuplicateAcrossPagesAndLyingTotal(t *testing.T) {
	_, srv := faultServer(t, 25, Faults{DuplicateAcrossPages: true, LieTotalBy: -3})
	var pages [][]int64
	for p := 1; p <= 3; p++ {
		pg, err := fetch.DecodePage(rawList(t, srv, page(p, 10), 0).body)
		if err != nil {
			t.Fatal(err)
		}
		if pg.TotalCount != 22 {
			t.Errorf("page %d: total %d, want 25-3", p, pg.TotalCount)
		}
		var ids []int64
		for _, j := range pg.Jobs {
			ids = append(ids, j.ID)
		}
		pages = append(pages, ids)
	}
	for p := 1; p < 3; p++ {
		if pages[p][0] != pages[p-1][len(pages[p-1])-1] {
			t.Errorf("page %d starts with %d, want the last job of page %d (%d)", p+1, pages[p][0], p, pages[p-1][len(pages[p-1])-1])
		}
	}
}

func TestFaultsSwitchOffAndDeterminism(t *testing.T) {
	f := Faults{ThrottleEvery: 3, ServerErrorEvery: 4, TruncateEvery: 5, ResetEvery: 7}
	run := func() []string {
		_, srv := faultServer(t, 10, f)
		var kinds []string
		for range 14 {
			a := rawList(t, srv, page(1, 10), 0)
			kinds = append(kinds, strconv.Itoa(a.status)+"/"+strconv.FormatBool(a.err != nil))
		}
		return kinds
	}
	first, second := run(), run()
	if !reflect.DeepEqual(first, second) {
		t.Errorf("two runs differ:\n%v\n%v", first, second)
	}

	sim, srv := faultServer(t, 10, Faults{ThrottleEvery: 1, BadItems: []string{BadMissingID}, BadItemEvery: 1})
	if a := rawList(t, srv, page(1, 10), 0); a.status != 429 {
		t.Fatalf("status %d, want 429", a.status)
	}
	if err := sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a := rawList(t, srv, page(1, 10), 0)
		pg, err := fetch.DecodePage(a.body)
		if err != nil || len(pg.Jobs) != 10 || len(pg.BadItems) != 0 {
			t.Fatalf("with faults off: %d %v", a.status, err)
		}
	}
}

func TestFaultOnRequestHook(t *testing.T) {
	var got []int
	_, srv := faultServer(t, 5, Faults{OnRequest: func(n int, r *http.Request) { got = append(got, n) }})
	for range 3 {
		rawList(t, srv, page(1, 10), 0)
	}
	if !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("hook saw %v, want [1 2 3]", got)
	}
}

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("throttle-every=3, retry-after=2s,retry-after-date,server-error-every=5,server-error-status=503," +
		"truncate-every=7,slow-every=11,slow-delay=40s,reset-every=13,wrong-content-type-every=17,html-page-every=19," +
		"expire-tokens-after=23,bad-items=wrong_type+missing_id,bad-item-every=40,duplicate-across-pages=true,lie-total-by=-7,throttle-code=ModelArts.2799," +
		"bad-item-ids=10+20+30")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{ThrottleEvery: 3, RetryAfter: 2 * time.Second, RetryAfterHTTPDate: true, ServerErrorEvery: 5,
		ServerErrorStatus: 503, TruncateEvery: 7, SlowEvery: 11, SlowDelay: 40 * time.Second, ResetEvery: 13,
		WrongContentTypeEvery: 17, HTMLPageEvery: 19, ExpireTokensAfter: 23, BadItems: []string{BadWrongType, BadMissingID},
		BadItemEvery: 40, DuplicateAcrossPages: true, LieTotalBy: -7, ThrottleCode: "ModelArts.2799", BadItemIDs: []int64{10, 20, 30}}
	if d := testdiff.Fields(f, want); d != "" {
		t.Errorf("ParseFaults differs:%s", d)
	}
	for _, bad := range []string{"throttle=3", "throttle-every=x", "bad-item-ids=1+x", "server-error-status=500", "bad-items=weird", "slow-delay=-1s", "reset-every=-2"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
	if f, err := ParseFaults(""); err != nil || f.Active() {
		t.Errorf("empty spec: %+v, %v", f, err)
	}
}

func TestFaultsAdminEndpoint(t *testing.T) {
	sim, srv := faultServer(t, 5, Faults{})
	post := func(spec string) int {
		resp, err := http.Post(srv.URL+"/_sim/faults?spec="+url.QueryEscape(spec), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("throttle-every=1"); code != 200 {
		t.Fatalf("POST /_sim/faults: %d", code)
	}
	if a := rawList(t, srv, page(1, 10), 0); a.status != 429 {
		t.Fatalf("status %d, want 429", a.status)
	}
	if code := post("nonsense=1"); code != 400 {
		t.Errorf("a bad spec answered %d, want 400", code)
	}
	if code := post(""); code != 200 {
		t.Fatalf("POST /_sim/faults: %d", code)
	}
	if a := rawList(t, srv, page(1, 10), 0); a.status != 200 {
		t.Fatalf("status %d after switching faults off", a.status)
	}
	_ = sim
}

// TestFaultsLeaveIAMAlone: IAM requests are neither counted nor faulted.
func TestFaultsLeaveIAMAlone(t *testing.T) {
	sim, srv := faultServer(t, 5, Faults{ThrottleEvery: 1})
	_ = issueToken(t, srv)
	if n := len(sim.FaultEvents()); n != 0 {
		t.Errorf("%d fault events for an IAM request", n)
	}
}
