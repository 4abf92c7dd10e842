package fetch

import (
	"testing"
	"time"
)

// A create_time the API did not send, sent as null or as 0 is unknown: CreatedAt is the zero time (the
// store keeps it as null), not 1970-01-01.
func TestCreatedAtUnknownIsZero(t *testing.T) {
	for _, item := range []string{
		`{"job_id": 1}`,
		`{"job_id": 1, "create_time": null}`,
		`{"job_id": 1, "create_time": 0}`,
	} {
		p, err := DecodePage([]byte(`{"is_success": true, "job_total_count": 1, "jobs": [` + item + `]}`))
		if err != nil || len(p.Jobs) != 1 {
			t.Fatalf("%s: page %+v, %v", item, p, err)
		}
		if got := p.Jobs[0].CreatedAt(); !got.IsZero() {
			t.Errorf("%s: CreatedAt = %s, want the zero time", item, got)
		}
	}
	j := Job{ID: 1, CreateTime: 1}
	if got, want := j.CreatedAt(), time.Date(1970, 1, 1, 0, 0, 0, 1e6, time.UTC); !got.Equal(want) {
		t.Errorf("CreatedAt of 1 ms = %s, want %s", got, want)
	}
}
