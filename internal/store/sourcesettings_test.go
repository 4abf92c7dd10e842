package store

import (
	"testing"
)

// A source's settings are recorded for BI tools (view sources), rewritten only when they change, and
// forgotten with the source.
func TestRecordSourceSettings(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	ss := SourceSettings{Source: "prod", ProjectID: "p1", Region: "cn-north-4", Endpoint: "https://modelarts.cn-north-4.example",
		AuthMode: "aksk", FullSchedule: "*/5 * * * *", HeadSchedule: "@every 1m"}
	if err := s.RecordSourceSettings(ctx, ss); err != nil {
		t.Fatal(err)
	}
	xmin := func() string {
		var x string
		if err := s.pool.QueryRow(ctx, "SELECT xmin::text FROM modelarts.source_settings WHERE source = 'prod'").Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	first := xmin()
	if err := s.RecordSourceSettings(ctx, ss); err != nil {
		t.Fatal(err)
	}
	if again := xmin(); again != first {
		t.Errorf("unchanged settings rewrote the row (xmin %s, then %s)", first, again)
	}
	ss.AuthMode, ss.HeadSchedule = "token", "off"
	if err := s.RecordSourceSettings(ctx, ss); err != nil {
		t.Fatal(err)
	}
	var got [5]string
	if err := s.pool.QueryRow(ctx, `SELECT project_id, region, auth_mode, full_schedule, head_schedule
		FROM modelarts.sources WHERE source = 'prod'`).Scan(&got[0], &got[1], &got[2], &got[3], &got[4]); err != nil {
		t.Fatal(err)
	}
	if want := [5]string{"p1", "cn-north-4", "token", "*/5 * * * *", "off"}; got != want {
		t.Errorf("sources: %v, want %v", got, want)
	}
	if _, err := s.ForgetSource(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM modelarts.source_settings"); n != 0 {
		t.Errorf("%d settings rows after forgetting the source", n)
	}
}
