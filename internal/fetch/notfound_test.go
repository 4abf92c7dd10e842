package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJobNotFoundRule: only the ModelArts service's own "no such job" answer
// is evidence of a deletion; gateway, proxy, server and unknown answers are not.
func TestJobNotFoundRule(t *testing.T) {
	now := time.Now()
	html := http.Header{"Content-Type": {"text/html"}}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   bool
	}{
		{name: "404 ModelArts job does not exist", status: 404, body: `{"is_success":false,"error_code":"ModelArts.0105","error_message":"Job does not exist"}`, want: true},
		{name: "400 training-job convention", status: 400, body: `{"error_code":"ModelArts.2764","error_msg":"Visualization job (ID: 7) not found."}`, want: true},
		{name: "404 not exist wording", status: 404, body: `{"error_code":"ModelArts.3002","error_msg":"The job not exist"}`, want: true},
		{name: "404 gateway route unpublished", status: 404, body: `{"error_code":"APIG.0101","error_msg":"The API does not exist or has not been published in the environment","request_id":"x"}`},
		{name: "404 APIGW code saying not found", status: 404, body: `{"error_code":"APIGW.0101","error_msg":"not found"}`},
		{name: "proxy HTML 404", status: 404, header: html, body: `<html><body><h1>404 Not Found</h1></body></html>`},
		{name: "404 empty body", status: 404, body: ``},
		{name: "404 JSON without code", status: 404, body: `{"error_msg":"job not found"}`},
		{name: "400 bad parameter", status: 400, body: `{"error_code":"ModelArts.0104","error_msg":"Invalid parameter job_id"}`},
		{name: "500 saying not found", status: 500, body: `{"error_code":"ModelArts.0010","error_msg":"job not found in cache"}`},
		{name: "403 project mismatch", status: 403, body: `{"error_code":"ModelArts.0210","error_msg":"project does not exist"}`},
		{name: "401", status: 401, body: `{"error_code":"ModelArts.0203","error_msg":"Token invalid"}`},
		{name: "429", status: 429, body: `{"error_code":"APIG.0308","error_msg":"not found quota"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{"Content-Type": {"application/json"}}
			}
			err := fmt.Errorf("get job 7: %w", decodeAPIError(tc.status, h, []byte(tc.body), now))
			shape, got := JobNotFound(err)
			if got != tc.want {
				t.Fatalf("JobNotFound(%v) = %v, want %v", err, got, tc.want)
			}
			if got && (shape.HTTPStatus != tc.status || shape.Code == "") {
				t.Errorf("shape = %+v", shape)
			}
		})
	}
	for _, err := range []error{nil, context.DeadlineExceeded, errors.New("connection reset"), &transientError{errors.New("eof")}} {
		if _, ok := JobNotFound(err); ok {
			t.Errorf("JobNotFound(%v) = true", err)
		}
	}
	iam := decodeAPIError(404, http.Header{}, []byte(`{"error_code":"ModelArts.0105","error_msg":"not found"}`), now)
	iam.service = "iam"
	if _, ok := JobNotFound(iam); ok {
		t.Error("an IAM answer is evidence of a deletion")
	}
}

// FuzzJobNotFound: whatever an error answer holds, the rule never panics, and it recognises only
// ModelArts.* JSON answers with HTTP 404 or 400.
func FuzzJobNotFound(f *testing.F) {
	f.Add(404, "application/json", `{"error_code":"ModelArts.0105","error_message":"Job does not exist"}`)
	f.Add(400, "application/json", `{"error_code":"ModelArts.2764","error_msg":"Visualization job (ID: 7) not found."}`)
	f.Add(404, "application/json", `{"error_code":"APIG.0101","error_msg":"The API does not exist"}`)
	f.Add(404, "text/html", `<html>404 Not Found</html>`)
	f.Add(500, "application/json", `{"error_code":"ModelArts.0010","error_msg":"not found"}`)
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		err := decodeAPIError(status, http.Header{"Content-Type": {contentType}}, []byte(body), time.Now())
		shape, ok := JobNotFound(err)
		if !ok {
			return
		}
		if status != 404 && status != 400 || !strings.HasPrefix(shape.Code, "ModelArts.") || shape.HTTPStatus != status || err.notJSON {
			t.Fatalf("JobNotFound(%d %q) = %+v: not a ModelArts not-found answer", status, body, shape)
		}
	})
}

func TestWholePageAndNameSearch(t *testing.T) {
	jobs := func(n int) []Job { return make([]Job, n) }
	for _, tc := range []struct {
		name string
		p    Page
		want bool
	}{
		{name: "short page holding its total", p: Page{Jobs: jobs(3), TotalCount: 3}, want: true},
		{name: "empty listing", p: Page{TotalCount: 0}, want: true},
		{name: "full page", p: Page{Jobs: jobs(100), TotalCount: 100}},
		{name: "total lies low", p: Page{Jobs: jobs(3), TotalCount: 2}},
		{name: "total says more", p: Page{Jobs: jobs(3), TotalCount: 4}},
		{name: "an undecoded item", p: Page{Jobs: jobs(2), BadItems: []BadItem{{}}, TotalCount: 2}},
	} {
		if got := tc.p.Whole(100); got != tc.want {
			t.Errorf("%s: Whole = %v, want %v", tc.name, got, tc.want)
		}
	}
	long := strings.Repeat("名", 70)
	if got := NameSearch(long); got != strings.Repeat("名", NameSearchRunes) || NameSearch("tb-bert") != "tb-bert" {
		t.Errorf("NameSearch cut %q", got)
	}
	if id := ImpossibleJobID(197); id != 197+impossibleIDGap || id > 1<<31-1 {
		t.Errorf("ImpossibleJobID(197) = %d", id)
	}
}
