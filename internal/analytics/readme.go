package analytics

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The README section of the documented queries lies between these two lines. Everything between
// them is generated: edit the query files and regenerate (internal/analytics/readmegen), never the section.
const (
	BeginMarker = "<!-- BEGIN generated: documented queries (internal/analytics/queries; regenerate with go run ./internal/analytics/readmegen) -->"
	EndMarker   = "<!-- END generated: documented queries -->"
)

// noAnswer stands for an answer not generated yet.
const noAnswer = "(not generated yet: run the demo)"

// Answers are the answers of the documented queries on the demo data.
type Answers struct {
	Generated string   // when and how the demo data was made, one line
	Tables    []string // Tables[i] answers Queries()[i], as FormatTable prints it
}

// Section renders the README section body (without the markers): a line saying where the answers
// come from, then for each query its question as a heading, its explanation, its SQL verbatim and
// its answer.
func Section(qs []Query, a Answers) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s%s\n", generatedPrefix, cmp.Or(a.Generated, "(not generated yet)"))
	for i, q := range qs {
		answer := noAnswer
		if i < len(a.Tables) && a.Tables[i] != "" {
			answer = strings.TrimRight(a.Tables[i], "\n")
		}
		fmt.Fprintf(&b, "\n### %d. %s\n\n", i+1, q.Question)
		if q.Doc != "" {
			fmt.Fprintf(&b, "%s\n\n", q.Doc)
		}
		fmt.Fprintf(&b, "```sql\n%s\n```\n\n", q.SQL)
		fmt.Fprintf(&b, "```text\n%s\n```\n", answer)
	}
	b.WriteString("\n")
	return b.String()
}

// generatedPrefix starts the section's first line.
const generatedPrefix = "Answers on the demo data: "

var (
	answerBlock   = regexp.MustCompile("(?s)```text\n(.*?)\n```\n")
	generatedLine = regexp.MustCompile("(?m)^" + regexp.QuoteMeta(generatedPrefix) + "(.*)$")
)

// SplitReadme returns the README around the generated section, and the answers found in it.
func SplitReadme(readme string) (before, section, after string, answers Answers, err error) {
	i := strings.Index(readme, BeginMarker+"\n")
	j := strings.Index(readme, "\n"+EndMarker)
	if i < 0 || j < i {
		return "", "", "", Answers{}, fmt.Errorf("README has no generated section: want the lines %q and %q", BeginMarker, EndMarker)
	}
	before = readme[:i+len(BeginMarker)+1]
	section = readme[i+len(BeginMarker)+1 : j+1]
	after = readme[j+1:]
	if m := generatedLine.FindStringSubmatch(section); m != nil {
		answers.Generated = m[1]
	}
	for _, m := range answerBlock.FindAllStringSubmatch(section, -1) {
		answers.Tables = append(answers.Tables, m[1])
	}
	return before, section, after, answers, nil
}

// ReplaceSection returns readme with its generated section replaced by section.
func ReplaceSection(readme, section string) (string, error) {
	before, _, after, _, err := SplitReadme(readme)
	if err != nil {
		return "", err
	}
	return before + section + after, nil
}

// FormatTable prints an answer as psql does in its aligned format: a header, a rule, one line per row
// and a row count. right[j] aligns column j to the right (numbers); nulls print as empty cells.
func FormatTable(columns []string, rows [][]string, right []bool) string {
	width := make([]int, len(columns))
	for j, c := range columns {
		width[j] = utf8.RuneCountInString(c)
	}
	clean := make([][]string, len(rows))
	for i, row := range rows {
		clean[i] = make([]string, len(row))
		for j, cell := range row {
			cell = strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(cell)
			clean[i][j] = cell
			width[j] = max(width[j], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	line := func(cells []string, header bool) {
		for j, cell := range cells {
			if j > 0 {
				b.WriteString(" |")
			}
			pad := width[j] - utf8.RuneCountInString(cell)
			switch {
			case header:
				left := pad / 2
				fmt.Fprintf(&b, " %s%s%s", strings.Repeat(" ", left), cell, strings.Repeat(" ", pad-left))
			case j < len(right) && right[j]:
				fmt.Fprintf(&b, " %s%s", strings.Repeat(" ", pad), cell)
			case j == len(cells)-1:
				fmt.Fprintf(&b, " %s", cell)
			default:
				fmt.Fprintf(&b, " %s%s", cell, strings.Repeat(" ", pad))
			}
		}
		b.WriteString("\n")
	}
	line(columns, true)
	for j := range columns {
		if j > 0 {
			b.WriteString("+")
		}
		b.WriteString(strings.Repeat("-", width[j]+2))
	}
	b.WriteString("\n")
	for _, row := range clean {
		line(row, false)
	}
	if len(rows) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(rows))
	}
	// psql pads the header's last cell; trailing blanks are noise in a README.
	out := strings.Split(b.String(), "\n")
	for i := range out {
		out[i] = strings.TrimRight(out[i], " ")
	}
	return strings.Join(out, "\n")
}
