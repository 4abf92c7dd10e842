package analytics

import (
	"os"
	"strings"
	"testing"
)

// The data dictionary in docs/ is what the migrations' comments render: this fails when a migration
// changed a comment, a column or a relation and the dictionary was not regenerated.
func TestDataDictionaryIsCurrent(t *testing.T) {
	t.Parallel()
	tx, _ := fixtureTx(t)
	_, rows := answer(t, tx, CatalogSQL)
	rels, err := Catalog(rows)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"../../docs/data-dictionary.md":  DictionaryMarkdown(rels),
		"../../docs/data-dictionary.yml": DictionarySchemaYML(rels),
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%v: generate it: createdb vizjob_dict && go run ./internal/analytics/dictgen -database-url postgres://.../vizjob_dict", err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s is stale: regenerate it with go run ./internal/analytics/dictgen -database-url postgres://.../vizjob_dict\n%s",
				file, firstDifference(string(got), want))
		}
	}
	// Every view states its grain.
	for _, r := range rels {
		if r.Kind == "view" && !strings.Contains(r.Comment, "Grain:") && !grainless[r.Name] {
			t.Errorf("view %s: its comment does not state its grain (\"Grain: one row per ...\")", r.Name)
		}
	}
}

// grainless are the views of earlier migrations whose comments say their grain in other words.
var grainless = map[string]bool{"job_status_groups": true, "job_status_history": true, "jobs_current": true, "sync_health": true}
