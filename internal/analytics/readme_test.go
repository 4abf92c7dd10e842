package analytics

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// docs/questions.md and the README's summary of it are generated from the query files: this fails when
// one was edited and not the other.
func TestReadmeIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../../" + QuestionsDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, _, answers, err := SplitReadme(string(b))
	if err != nil {
		t.Fatal(err)
	}
	const regenerate = "Regenerate it (the answers need a database): createdb vizjob_demo && " +
		"go run ./internal/analytics/readmegen -database-url postgres://.../vizjob_demo -readme README.md -questions docs/questions.md"
	if want := Section(Queries(), answers); section != want {
		t.Errorf("%s's generated section is stale: it is not what the files in internal/analytics/queries render.\n%s\n%s",
			QuestionsDoc, regenerate, firstDifference(section, want))
	}
	for _, q := range Queries() {
		if !strings.Contains(section, "```sql\n"+q.SQL+"\n```") {
			t.Errorf("%s does not show query %s verbatim", QuestionsDoc, q.Name)
		}
		if strings.Contains(section, "```sql\n"+q.SQL+"\n```\n\n```text\n"+noAnswer) {
			t.Errorf("%s shows no answer for query %s", QuestionsDoc, q.Name)
		}
	}
	if len(answers.Tables) != len(Queries()) {
		t.Errorf("%s has %d answers for %d queries", QuestionsDoc, len(answers.Tables), len(Queries()))
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	summary, err := SummarySection(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if want := Summary(Queries(), answers); summary != want {
		t.Errorf("README.md's summary of the questions is stale.\n%s\n%s", regenerate, firstDifference(summary, want))
	}
}

func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d of the section:\n README: %q\n render: %q", i+1, gl, wl)
		}
	}
	return ""
}

func TestParse(t *testing.T) {
	q, err := parse("07-x", "-- Which jobs?\n-- Some words\n--\n-- more words.\nSELECT 1\nFROM t;\n")
	if err != nil {
		t.Fatal(err)
	}
	if q.Question != "Which jobs?" || q.Doc != "Some words more words." || q.SQL != "SELECT 1\nFROM t;" {
		t.Errorf("parse: %+v", q)
	}
	for _, bad := range []string{
		"SELECT 1;\n",                 // no question
		"-- Q\nSELECT 1\n",            // no semicolon
		"-- Q\nSELECT 1; SELECT 2;\n", // two statements
		"-- Q\r\nSELECT 1;\r\n",       // CRLF
		"-- Q\nSELECT '```';\n",       // breaks the README's fences
	} {
		if _, err := parse("x", bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
	if len(Queries()) < 10 {
		t.Errorf("%d documented queries, want at least 10 (the README's questions)", len(Queries()))
	}
}

func TestFormatTable(t *testing.T) {
	got := FormatTable([]string{"source", "n", "note"}, [][]string{{"prod", "12", "a\nb"}, {"lab", "3", ""}}, []bool{false, true, false})
	want := " source | n  | note\n" +
		"--------+----+------\n" +
		" prod   | 12 | a b\n" +
		" lab    |  3 |\n" +
		"(2 rows)\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := FormatTable([]string{"x"}, [][]string{{"1"}}, nil); !strings.HasSuffix(got, "(1 row)\n") {
		t.Errorf("one row: %q", got)
	}
}

func TestReplaceSection(t *testing.T) {
	readme := "# T\n\n" + BeginMarker + "\nold\n" + EndMarker + "\n\n## Next\n"
	out, err := ReplaceSection(readme, "\nnew\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# T\n\n" + BeginMarker + "\n\nnew\n" + EndMarker + "\n\n## Next\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := ReplaceSection("# no markers\n", "x"); err == nil {
		t.Error("no error without markers")
	}
}
