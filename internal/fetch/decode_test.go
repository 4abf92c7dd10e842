package fetch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
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
	if !reflect.DeepEqual(p.Jobs, want) {
		t.Errorf("jobs =\n%+v\nwant\n%+v", p.Jobs, want)
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
		{"absent is_success", `{"job_total_count":1,"jobs":[{"job_id":1}]}`, 1},
		{"null is_success", `{"is_success":null,"jobs":[{"job_id":1}]}`, 1},
		{"empty jobs", `{"is_success":true,"job_total_count":0,"jobs":[]}`, 0},
		{"null jobs", `{"is_success":true,"job_total_count":0,"jobs":null}`, 0},
		{"is_success true wins over a stray error_code", `{"is_success":true,"error_code":"","jobs":[{"job_id":2}]}`, 1},
		{"surrounding whitespace", " \n{\"jobs\":[{\"job_id\":3}]}\n", 1},
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
		{"error_message spelling", `{"is_success":false,"error_code":"ModelArts.0104","error_message":"bad per_page"}`,
			"ModelArts.0104", "bad per_page", "", ErrBadInput},
		{"error_msg spelling", `{"is_success":false,"error_code":"ModelArts.0202","error_msg":"token expired"}`,
			"ModelArts.0202", "token expired", "", ErrAuth},
		{"gateway shape without is_success", `{"error_code":"APIG.0308","error_msg":"throttled","request_id":"req-9"}`,
			"APIG.0308", "throttled", "req-9", ErrThrottled},
		{"is_success false without details", `{"is_success":false}`, "", "", "", nil},
		{"IAM shape", `{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}`,
			"401", "The request you have made requires authentication.", "", nil},
		{"IAM shape, title only", `{"error":{"code":"IAM.0001","title":"Unauthorized"}}`, "IAM.0001", "Unauthorized", "", nil},
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
		{"HTML gateway page", "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>\x00nginx</body></html>",
			`not JSON (invalid character '<' looking for beginning of value): "<html> <head><title>502 Bad Gateway</title></head> <body> nginx</body></html>"`},
		{"truncated", `{"is_success":true,"jobs":[{"job_id":1`, "not JSON (unexpected end of JSON input)"},
		{"empty", "", "empty answer"},
		{"array", `[{"job_id":1}]`, "want a JSON object, got array"},
		{"null", `null`, "want a JSON object, got null"},
		{"is_success string", `{"is_success":"true","jobs":[]}`, "is_success: want a boolean, got string"},
		{"no jobs", `{"is_success":true,"job_total_count":3}`, "answer has no jobs array"},
		{"jobs object", `{"jobs":{"job_id":1}}`, "jobs: want an array, got object"},
		{"total string", `{"job_total_count":"3","jobs":[]}`, "job_total_count: want an integer, got string"},
		{"total fractional", `{"job_total_count":3.5,"jobs":[]}`, "job_total_count: want an integer, got 3.5"},
		{"long body is cut", `<!DOCTYPE html>` + strings.Repeat("x", 500), `xxx..."`},
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
		{`{"job_id":1,"job_name":"ok"}`, ""},
		{`[1,2]`, "want a JSON object, got array"},
		{`"job"`, "want a JSON object, got string"},
		{`{"job_name":"no id"}`, "job_id is missing"},
		{`{"job_id":null}`, "job_id is missing"},
		{`{"job_id":"7"}`, "job_id: want an integer, got string"},
		{`{"job_id":7.5}`, "job_id: want an integer, got 7.5"},
		{`{"job_id":7.0}`, "job_id: want an integer, got 7.0"},
		{`{"job_id":1e3}`, "job_id: want an integer, got 1e3"},
		{`{"job_id":9223372036854775808}`, "job_id: 9223372036854775808 does not fit in 64 bits"},
		{`{"job_id":8,"status":"7"}`, "status: want an integer, got string"},
		{`{"job_id":9,"status":4294967296}`, "status: 4294967296 does not fit in 32 bits"},
		{`{"job_id":10,"create_time":1.5e12}`, "create_time: want an integer, got 1.5e12"},
		{`{"job_id":11,"duration":true}`, "duration: want an integer, got boolean"},
		{`{"job_id":12,"job_name":5}`, "job_name: want a string, got number"},
		{`{"job_id":13,"train_url":{}}`, "train_url: want a string, got object"},
		{`{"job_id":14,"job_desc":null,"duration":null,"status":null,"create_time":null}`, ""},
		{`{"job_id":-15}`, "job_id: -15 is negative"},
		{`{"job_id":16,"duration":-1}`, "duration: -1 is negative"},
		{`{"job_id":17,"create_time":-1565149736000}`, "create_time: -1565149736000 is negative"},
		{`{"job_id":0,"duration":0,"create_time":0}`, ""},
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
		{`{"job_id":8,"status":"7"}`, 8},
		{`{"job_id":9,"duration":-3}`, 9},
		{`{"job_id":10,"job_desc":{"nested":true}}`, 10},
		{`{"job_id":"11","status":1}`, -1},
		{`{"job_id":12.0}`, -1},
		{`{"job_id":-13}`, -1},
		{`{"job_id":null,"status":1}`, -1},
		{`{"status":1}`, -1},
		{`[{"job_id":14}]`, -1},
		{`null`, -1},
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
		{&APIError{HTTPStatus: 401}, []error{ErrAuth}, []error{ErrThrottled}},
		{&APIError{HTTPStatus: 401, Code: "ModelArts.0202"}, []error{ErrAuth}, nil},
		{&APIError{HTTPStatus: 200, Code: "ModelArts.4127"}, []error{ErrAuth}, []error{ErrServer}},
		{&APIError{HTTPStatus: 403, Code: "ModelArts.0206"}, []error{ErrForbidden}, []error{ErrAuth}},
		{&APIError{HTTPStatus: 429}, []error{ErrThrottled}, nil},
		{&APIError{HTTPStatus: 400, Code: "APIG.0308"}, []error{ErrThrottled, ErrBadInput}, nil},
		{&APIError{HTTPStatus: 200, Code: "ModelArts.6101"}, []error{ErrThrottled}, nil},
		{&APIError{HTTPStatus: 500, Code: "ModelArts.0010"}, []error{ErrServer}, []error{ErrDecode}},
		{&APIError{HTTPStatus: 502, notJSON: true}, []error{ErrServer, ErrDecode}, nil},
		{&APIError{HTTPStatus: 404}, []error{ErrNotFound}, []error{ErrBadInput}},
		{&APIError{HTTPStatus: 408}, []error{ErrServer}, []error{ErrBadInput}},
		{&APIError{HTTPStatus: 400, Code: "ModelArts.0101"}, []error{ErrBadInput}, []error{ErrAuth}},
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
