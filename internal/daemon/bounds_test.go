package daemon

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/testdb"
)

// The API decides which status codes come: 5 000 jobs with distinct undocumented codes make one
// vizjob_jobs series, status="other", beside the documented codes' series.
func TestUndocumentedStatusesFoldIntoOneSeries(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	c := conn(t, db)
	if _, err := c.Exec(t.Context(), `
		INSERT INTO modelarts.visualization_jobs (source, job_id, job_name, job_desc, status, service_url, train_url, raw,
		    first_seen_at, last_seen_at, last_changed_at)
		SELECT 'a', g, 'n', '', CASE WHEN g <= 3 THEN 8 ELSE 100000 + g END, '', '', '{}', now(), now(), now()
		FROM generate_series(1, 5000) AS g`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newDBCollector(openStore(t, db), []string{"a"}, true, slog.New(slog.DiscardHandler))) // vizjob_jobs: INDEXER_METRICS_DETAIL
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "vizjob_jobs" {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[strings.Join(labels, ",")] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"source=a,status=8,status_name=JOBSTAT_RUNNING": 3,
		"source=a,status=other,status_name=":            4997,
	}
	if len(got) != len(want) {
		t.Errorf("%d vizjob_jobs series, want %d: %v", len(got), len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("vizjob_jobs{%s} = %v, want %v", k, got[k], v)
		}
	}
}

// HTTP statuses net/http does not name share the code="other" series.
func TestCodeLabel(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "200", 503: "503", 429: "429", 599: "other", 999: "other", 147: "other"} {
		if got := codeLabel(status); got != want {
			t.Errorf("codeLabel(%d) = %q, want %q", status, got, want)
		}
	}
}

// Listening beyond loopback without a token is warned of; on loopback, or with a token, it is not.
func TestExposureWarning(t *testing.T) {
	for _, tc := range []struct {
		addr  net.Addr
		token string
		warn  bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "", false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "", false},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "", true},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "", true},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}, "", true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "s3cret", false},
		{&net.UnixAddr{Name: "/run/indexer.sock", Net: "unix"}, "", false},
	} {
		msg := exposureWarning(tc.addr, tc.token)
		if (msg != "") != tc.warn {
			t.Errorf("%s, token %q: warning %q, want one: %v", tc.addr, tc.token, msg, tc.warn)
		}
		if tc.warn && !strings.Contains(msg, config.EnvHTTPToken) {
			t.Errorf("the warning does not name %s: %s", config.EnvHTTPToken, msg)
		}
	}
}
