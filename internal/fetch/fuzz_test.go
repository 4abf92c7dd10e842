package fetch

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodePage checks that no answer makes DecodePage panic, that it
// returns a page or an error (never both, never neither), and that every job
// and bad item keeps valid JSON in Raw.
func FuzzDecodePage(f *testing.F) {
	for _, seed := range []string{
		`{"is_success":true,"quotas":100,"job_total_count":1,"job_count_limit":999,"jobs":[{"job_id":197,"job_name":"apiTest-11","status":7,"create_time":1565149736000,"duration":33000,"job_desc":"ModelArts API Dialtest","service_url":"https://x","train_url":"/a/b/","resource_id":"e17dd874","remaining_duration":null}]}`,
		`{"job_total_count":2,"jobs":[{"job_id":1},{"job_id":"2"},[],null,{"job_id":3.5,"status":"x"}]}`,
		`{"jobs":[{"job_id":-1},{"job_id":2,"duration":-5,"create_time":7},{"job_id":3,"create_time":-1},{"job_id":4,"job_desc":"\u0000\ud800"}]}`,
		`{"is_success":false,"error_code":"ModelArts.0104","error_message":"bad"}`,
		`{"error_code":"APIG.0308","error_msg":"throttled","request_id":"abc"}`,
		`{"error":{"code":401,"title":"Unauthorized","message":"no"}}`,
		"<html><body>502 Bad Gateway</body></html>",
		`{"is_success":true,"jobs":[{"job_id":1`,
		`{"jobs":null}`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodePage(body)
		if (p == nil) == (err == nil) {
			t.Fatalf("DecodePage = %v, %v: want exactly one of page and error", p, err)
		}
		if err != nil {
			var ae *APIError
			if !errors.Is(err, ErrDecode) && !errors.As(err, &ae) {
				t.Fatalf("error %v is neither ErrDecode nor *APIError", err)
			}
			return
		}
		for i, j := range p.Jobs {
			if !json.Valid(j.Raw) {
				t.Fatalf("job %d Raw %q is not valid JSON", i, j.Raw)
			}
			if j.ID < 0 || j.CreateTime < 0 || j.Duration < 0 {
				t.Fatalf("job %d has a negative id, create_time or duration: %+v", i, j)
			}
		}
		for _, b := range p.BadItems {
			if !json.Valid(b.Raw) || b.Reason == "" {
				t.Fatalf("bad item %+v has invalid Raw or no reason", b)
			}
			if b.JobID != nil && *b.JobID < 0 || b.CreateTime != nil && *b.CreateTime < 0 {
				t.Fatalf("bad item %+v keeps a negative job_id or create_time", b)
			}
		}
	})
}
