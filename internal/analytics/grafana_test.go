package analytics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

type dashboard struct {
	Panels []struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RawSQL string `json:"rawSql"`
			Format string `json:"format"`
			Expr   string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var (
	timeFilter = regexp.MustCompile(`\$__timeFilter\(([^()]*)\)`)
	metricName = regexp.MustCompile(`\bvizjob_[a-z_]+`)
)

// grafanaSQL replaces Grafana's macros and the source variable as Grafana does for the range
// [from, to) and every source.
func grafanaSQL(sql string, from, to time.Time, sources []string) string {
	f, t := "'"+from.UTC().Format(time.RFC3339Nano)+"'::timestamptz", "'"+to.UTC().Format(time.RFC3339Nano)+"'::timestamptz"
	sql = timeFilter.ReplaceAllString(sql, "$1 BETWEEN "+f+" AND "+t)
	sql = strings.NewReplacer("$__timeFrom()", f, "$__timeTo()", t).Replace(sql)
	quoted := make([]string, len(sources))
	for i, s := range sources {
		quoted[i] = "'" + s + "'"
	}
	return strings.ReplaceAll(sql, "$source", strings.Join(quoted, ","))
}

// Every panel of the dashboard: its SQL, macros replaced, runs on the fixture with the columns its
// format needs; its PromQL names metrics the daemon exports; its data source is a provisioned one.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../grafana/dashboards/vizjob.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/dashboards/vizjob.json: %v", err)
	}
	provisioned, err := os.ReadFile("../../grafana/provisioning/datasources/vizjob.yml")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := os.ReadFile("../daemon/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	tx, c := fixtureTx(t)
	_, srcs := answer(t, tx, "SELECT source FROM modelarts.sources ORDER BY 1")
	var sources []string
	for _, r := range srcs {
		sources = append(sources, r[0])
	}
	from, to := c.N.AddDate(0, 0, -30), c.N // the dashboard's default range: now-30d to now

	var sqlPanels, promPanels int
	for _, p := range d.Panels {
		if !strings.Contains(string(provisioned), "uid: "+p.Datasource.UID+"\n") {
			t.Errorf("panel %q: data source %q is not provisioned", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr != "" {
				promPanels++
				for _, m := range metricName.FindAllString(tg.Expr, -1) {
					if !strings.Contains(string(metrics), `"`+m+`"`) {
						t.Errorf("panel %q: metric %s is not one the daemon exports", p.Title, m)
					}
				}
				continue
			}
			sqlPanels++
			cols, rows := answer(t, tx, grafanaSQL(tg.RawSQL, from, to, sources))
			switch tg.Format {
			case "time_series":
				if len(cols) < 2 || cols[0] != "time" {
					t.Errorf("panel %q: a time series needs a first column \"time\" and values; columns %v", p.Title, cols)
				}
			case "table":
				if len(cols) < 2 {
					t.Errorf("panel %q: columns %v", p.Title, cols)
				}
			default:
				t.Errorf("panel %q: format %q, want time_series or table", p.Title, tg.Format)
			}
			if len(rows) == 0 {
				t.Errorf("panel %q shows nothing on the fixture", p.Title)
			}
			t.Logf("panel %-50q %2d rows, columns %v", p.Title, len(rows), cols)
		}
	}
	if sqlPanels < 7 || promPanels < 3 {
		t.Errorf("%d SQL and %d Prometheus queries, want the 7 questions' panels and the indexer's health", sqlPanels, promPanels)
	}
}
