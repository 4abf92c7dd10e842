package fetch

import (
	"errors"
	"strings"
	"testing"

	"github.com/vizjob/indexer/internal/testdiff"
)

func TestDecodePageEveryField(t *testing.T) {
	item0 := `{"job_id": 197, "job_name": "apiTest-11", "status": 7, "create_time": 1565149736000,
               "duration": 33000, "job_desc": "ModelArts API Dialtest", "service_url": "https://svc/x",
               "train_url": "/wph-test/zl-test/Flowers-Set/ApiTest/",
               "resource_id": "e17dd874-b5e0-4e9b-aaf0-22b045ad8571", "remaining_duration": null, "schedule": {"type": "stop"}}`
	item1 := `{"job_id":9223372036854775807,"job_name":null,"status":99,"create_time":0,"duration":null}`
	body := `{"is_success": true, "quotas": 100, "job_total_count": 2, "job_count_limit": 999, "new_top_field": [1],
	          "jobs": [` + item0 + `, ` + item1 + `]}`
	p, err := DecodePage([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalCount != 2 || p.CountLimit != 999 || p.Quotas != 100 || len(p.BadItems) != 0 {
		t.Errorf("page = %+v", p)
	}
	want := []Job{
		{
			ID: 197, Name: "apiTest-11", Desc: "ModelArts API Dialtest", Status: 7, CreateTime: 1565149736000,
			Duration: 33000, ServiceURL: "https://svc/x", TrainURL: "/wph-test/zl-test/Flowers-Set/ApiTest/",
			ResourceID: "e17dd874-b5e0-4e9b-aaf0-22b045ad8571", Raw: []byte(item0),
		},
		{ID: 9223372036854775807, Status: 99, Raw: []byte(item1)},
	}
	if len(p.Jobs) != len(want) {
		t.Fatalf("%d jobs, want %d:\n%+v", len(p.Jobs), len(want), p.Jobs)
	}
	for i := range want {
		if d := testdiff.Fields(p.Jobs[i], want[i]); d != "" {
			t.Errorf("job %d differs:%s", i, d)
		}
	}
	if got := p.Jobs[0].CreatedAt().Format("2006-01-02T15:04:05Z"); got != "2019-08-07T03:48:56Z" {
		t.Errorf("CreatedAt = %s", got)
	}
}

func TestDecodePageSuccessShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		jobs int
	}{
		{name: "absent is_success", body: `{"job_total_count":1,"jobs":[{"job_id":1}]}`, jobs: 1},
		{name: "null is_success", body: `{"is_success":null,"jobs":[{"job_id":1}]}`, jobs: 1},
		{name: "empty jobs", body: `{"is_success":true,"job_total_count":0,"jobs":[]}`, jobs: 0},
		{name: "null jobs", body: `{"is_success":true,"job_total_count":0,"jobs":null}`, jobs: 0},
		{name: "is_success true wins over a stray error_code", body: `{"is_success":true,"error_code":"","jobs":[{"job_id":2}]}`, jobs: 1},
		{name: "surrounding whitespace", body: " \n{\"jobs\":[{\"job_id\":3}]}\n", jobs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePage([]byte(tt.body))
			if err != nil || len(p.Jobs) != tt.jobs {
				t.Fatalf("DecodePage = %+v, %v; want %d jobs", p, err, tt.jobs)
			}
		})
	}
}

func TestDecodePageFailures(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		code, msg string
		requestID string
		is        error
	}{
		{name: "error_message spelling", body: `{"is_success":false,"error_code":"ModelArts.0104","error_message":"bad per_page"}`,
			code: "ModelArts.0104", msg: "bad per_page", requestID: "", is: ErrBadInput},
		{name: "error_msg spelling", body: `{"is_success":false,"error_code":"ModelArts.0202","error_msg":"token expired"}`,
			code: "ModelArts.0202", msg: "token expired", requestID: "", is: ErrAuth},
		{name: "gateway shape without is_success", body: `{"error_code":"APIG.0308","error_msg":"throttled","request_id":"req-9"}`,
			code: "APIG.0308", msg: "throttled", requestID: "req-9", is: ErrThrottled},
		{name: "is_success false without details", body: `{"is_success":false}`, code: "", msg: "", requestID: "", is: nil},
		{name: "IAM shape", body: `{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}`,
			code: "401", msg: "The request you have made requires authentication.", requestID: "", is: nil},
		{name: "IAM shape, title only", body: `{"error":{"code":"IAM.0001","title":"Unauthorized"}}`, code: "IAM.0001", msg: "Unauthorized", requestID: "", is: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePage([]byte(tt.body))
			var ae *APIError
			if !errors.As(err, &ae) || p != nil {
				t.Fatalf("DecodePage = %v, %v; want an *APIError", p, err)
			}
			if ae.Code != tt.code || ae.Message != tt.msg || ae.RequestID != tt.requestID {
				t.Errorf("APIError = %+v, want code %q message %q request id %q", ae, tt.code, tt.msg, tt.requestID)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestDecodePageMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "HTML gateway page", body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>\x00nginx</body></html>",
			want: `not JSON (invalid character '<' looking for beginning of value): "<html> <head><title>502 Bad Gateway</title></head> <body> nginx</body></html>"`},
		{name: "truncated", body: `{"is_success":true,"jobs":[{"job_id":1`, want: "not JSON (unexpected end of JSON input)"},
		{name: "empty", body: "", want: "empty answer"},
		{name: "array", body: `[{"job_id":1}]`, want: "want a JSON object, got array"},
		{name: "null", body: `null`, want: "want a JSON object, got null"},
		{name: "is_success string", body: `{"is_success":"true","jobs":[]}`, want: "is_success: want a boolean, got string"},
		{name: "no jobs", body: `{"is_success":true,"job_total_count":3}`, want: "answer has no jobs array"},
		{name: "jobs object", body: `{"jobs":{"job_id":1}}`, want: "jobs: want an array, got object"},
		{name: "total string", body: `{"job_total_count":"3","jobs":[]}`, want: "job_total_count: want an integer, got string"},
		{name: "total fractional", body: `{"job_total_count":3.5,"jobs":[]}`, want: "job_total_count: want an integer, got 3.5"},
		{name: "long body is cut", body: `<!DOCTYPE html>` + strings.Repeat("x", 500), want: `xxx..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePage([]byte(tt.body))
			if !errors.Is(err, ErrDecode) || p != nil {
				t.Fatalf("DecodePage = %v, %v; want ErrDecode", p, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestDecodePageBadItems(t *testing.T) {
	items := []struct {
		raw    string
		reason string // "" for a good item
	}{
		{raw: `{"job_id":1,"job_name":"ok"}`, reason: ""},
		{raw: `[1,2]`, reason: "want a JSON object, got array"},
		{raw: `"job"`, reason: "want a JSON object, got string"},
		{raw: `{"job_name":"no id"}`, reason: "job_id is missing"},
		{raw: `{"job_id":null}`, reason: "job_id is missing"},
		{raw: `{"job_id":"7"}`, reason: "job_id: want an integer, got string"},
		{raw: `{"job_id":7.5}`, reason: "job_id: want an integer, got 7.5"},
		{raw: `{"job_id":7.0}`, reason: "job_id: want an integer, got 7.0"},
		{raw: `{"job_id":1e3}`, reason: "job_id: want an integer, got 1e3"},
		{raw: `{"job_id":9223372036854775808}`, reason: "job_id: 9223372036854775808 does not fit in 64 bits"},
		{raw: `{"job_id":8,"status":"7"}`, reason: "status: want an integer, got string"},
		{raw: `{"job_id":9,"status":4294967296}`, reason: "status: 4294967296 does not fit in 32 bits"},
		{raw: `{"job_id":10,"create_time":1.5e12}`, reason: "create_time: want an integer, got 1.5e12"},
		{raw: `{"job_id":11,"duration":true}`, reason: "duration: want an integer, got boolean"},
		{raw: `{"job_id":12,"job_name":5}`, reason: "job_name: want a string, got number"},
		{raw: `{"job_id":13,"train_url":{}}`, reason: "train_url: want a string, got object"},
		{raw: `{"job_id":14,"job_desc":null,"duration":null,"status":null,"create_time":null}`, reason: ""},
		{raw: `{"job_id":-15}`, reason: "job_id: -15 is negative"},
		{raw: `{"job_id":16,"duration":-1}`, reason: "duration: -1 is negative"},
		{raw: `{"job_id":17,"create_time":-1565149736000}`, reason: "create_time: -1565149736000 is negative"},
		{raw: `{"job_id":0,"duration":0,"create_time":0}`, reason: ""},
	}
	raws := make([]string, len(items))
	for i, it := range items {
		raws[i] = it.raw
	}
	p, err := DecodePage([]byte(`{"is_success":true,"job_total_count":18,"jobs":[` + strings.Join(raws, ",") + `]}`))
	if err != nil {
		t.Fatalf("a page with bad items failed: %v", err)
	}
	var good, bad int
	for i, it := range items {
		if it.reason == "" {
			if string(p.Jobs[good].Raw) != it.raw {
				t.Errorf("job %d Raw = %s, want %s", good, p.Jobs[good].Raw, it.raw)
			}
			good++
			continue
		}
		b := p.BadItems[bad]
		bad++
		if b.Index != i || string(b.Raw) != it.raw || b.Reason != it.reason {
			t.Errorf("bad item = {%d %s %q}, want {%d %s %q}", b.Index, b.Raw, b.Reason, i, it.raw, it.reason)
		}
	}
	if len(p.Jobs) != good || len(p.BadItems) != bad {
		t.Errorf("got %d jobs and %d bad items, want %d and %d", len(p.Jobs), len(p.BadItems), good, bad)
	}
}

// TestBadItemJobID checks that a bad item keeps its job_id only when it is
// a non-negative JSON integer: nothing else is converted.
func TestBadItemJobID(t *testing.T) {
	tests := []struct {
		raw  string
		want int64 // -1: no id
	}{
		{raw: `{"job_id":8,"status":"7"}`, want: 8},
		{raw: `{"job_id":9,"duration":-3}`, want: 9},
		{raw: `{"job_id":10,"job_desc":{"nested":true}}`, want: 10},
		{raw: `{"job_id":"11","status":1}`, want: -1},
		{raw: `{"job_id":12.0}`, want: -1},
		{raw: `{"job_id":-13}`, want: -1},
		{raw: `{"job_id":null,"status":1}`, want: -1},
		{raw: `{"status":1}`, want: -1},
		{raw: `[{"job_id":14}]`, want: -1},
		{raw: `null`, want: -1},
	}
	for _, tt := range tests {
		p, err := DecodePage([]byte(`{"jobs":[` + tt.raw + `]}`))
		if err != nil || len(p.BadItems) != 1 {
			t.Fatalf("%s: page %+v, %v; want one bad item", tt.raw, p, err)
		}
		got := p.BadItems[0].JobID
		switch {
		case tt.want < 0 && got != nil:
			t.Errorf("%s: job id %d, want none", tt.raw, *got)
		case tt.want >= 0 && (got == nil || *got != tt.want):
			t.Errorf("%s: job id %v, want %d", tt.raw, got, tt.want)
		}
	}

	p, err := DecodePage([]byte(`{"jobs":[{"job_id":8,"status":"7","create_time":1565149736000},{"job_id":9,"status":"7","create_time":"1"},{"job_id":10,"create_time":-1}]}`))
	if err != nil || len(p.BadItems) != 3 {
		t.Fatalf("page %+v, %v", p, err)
	}
	if c := p.BadItems[0].CreateTime; c == nil || *c != 1565149736000 {
		t.Errorf("create_time %v, want 1565149736000", c)
	}
	if c1, c2 := p.BadItems[1].CreateTime, p.BadItems[2].CreateTime; c1 != nil || c2 != nil {
		t.Errorf("create_time of a string or a negative number kept: %v %v", c1, c2)
	}
}

func TestAPIErrorUnwrap(t *testing.T) {
	tests := []struct {
		err   *APIError
		is    []error
		isNot []error
	}{
		{err: &APIError{HTTPStatus: 401}, is: []error{ErrAuth}, isNot: []error{ErrThrottled}},
		{err: &APIError{HTTPStatus: 401, Code: "ModelArts.0202"}, is: []error{ErrAuth}, isNot: nil},
		{err: &APIError{HTTPStatus: 200, Code: "ModelArts.4127"}, is: []error{ErrAuth}, isNot: []error{ErrServer}},
		{err: &APIError{HTTPStatus: 403, Code: "ModelArts.0206"}, is: []error{ErrForbidden}, isNot: []error{ErrAuth}},
		{err: &APIError{HTTPStatus: 429}, is: []error{ErrThrottled}, isNot: nil},
		{err: &APIError{HTTPStatus: 400, Code: "APIG.0308"}, is: []error{ErrThrottled, ErrBadInput}, isNot: nil},
		{err: &APIError{HTTPStatus: 200, Code: "ModelArts.6101"}, is: []error{ErrThrottled}, isNot: nil},
		{err: &APIError{HTTPStatus: 500, Code: "ModelArts.0010"}, is: []error{ErrServer}, isNot: []error{ErrDecode}},
		{err: &APIError{HTTPStatus: 502, notJSON: true}, is: []error{ErrServer, ErrDecode}, isNot: nil},
		{err: &APIError{HTTPStatus: 404}, is: []error{ErrNotFound}, isNot: []error{ErrBadInput}},
		{err: &APIError{HTTPStatus: 408}, is: []error{ErrServer}, isNot: []error{ErrBadInput}},
		{err: &APIError{HTTPStatus: 400, Code: "ModelArts.0101"}, is: []error{ErrBadInput}, isNot: []error{ErrAuth}},
	}
	for _, tt := range tests {
		for _, target := range tt.is {
			if !errors.Is(tt.err, target) {
				t.Errorf("%v: errors.Is(%v) = false", tt.err, target)
			}
		}
		for _, target := range tt.isNot {
			if errors.Is(tt.err, target) {
				t.Errorf("%v: errors.Is(%v) = true", tt.err, target)
			}
		}
	}
	full := &APIError{HTTPStatus: 400, Code: "ModelArts.0104", Message: "bad", RequestID: "r1"}
	if got, want := full.Error(), "modelarts api: http 400 ModelArts.0104: bad (request_id r1)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSnippet(t *testing.T) {
	if got, want := snippet([]byte("a\tb\r\n\x1b[31mc  \x7f d\xff")), "a b [31mc d"; got != want {
		t.Errorf("snippet = %q, want %q", got, want)
	}
	if got := snippet([]byte(strings.Repeat("é", 100))); !strings.HasSuffix(got, "...") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("snippet of long text = %q", got)
	}
}

// remaining_duration, undocumented: kept when it is a non-negative integer; anything else leaves it
// nil and the item good.
func TestDecodeRemainingDuration(t *testing.T) {
	three := int64(3_600_000)
	for _, c := range []struct {
		field string
		want  *int64
	}{
		{`,"remaining_duration":3600000`, &three},
		{`,"remaining_duration":null`, nil},
		{``, nil},
		{`,"remaining_duration":"3600000"`, nil},
		{`,"remaining_duration":-1`, nil},
		{`,"remaining_duration":1.5`, nil},
		{`,"remaining_duration":99999999999999999999`, nil},
	} {
		body := `{"job_total_count": 1, "jobs": [{"job_id": 1, "status": 7` + c.field + `}]}`
		p, err := DecodePage([]byte(body))
		if err != nil || len(p.Jobs) != 1 || len(p.BadItems) != 0 {
			t.Errorf("%s: %v, %d jobs, %d bad items; want one good job", c.field, err, len(p.Jobs), len(p.BadItems))
			continue
		}
		if got := p.Jobs[0].RemainingDuration; (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("%s: RemainingDuration %v, want %v", c.field, got, c.want)
		}
	}
}
