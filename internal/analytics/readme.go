package analytics

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The section of the documented queries in docs/questions.md lies between these two lines, and their
// summary in the README between the two Summary markers. Everything between them is generated: edit
// the query files and regenerate (internal/analytics/readmegen), never the sections.
const (
	BeginMarker        = "<!-- BEGIN generated: documented queries (internal/analytics/queries; regenerate with go run ./internal/analytics/readmegen) -->"
	EndMarker          = "<!-- END generated: documented queries -->"
	SummaryBeginMarker = "<!-- BEGIN generated: questions summary (regenerate with go run ./internal/analytics/readmegen) -->"
	SummaryEndMarker   = "<!-- END generated: questions summary -->"
)

// QuestionsDoc is where the full questions live, relative to the README.
const QuestionsDoc = "docs/questions.md"

// Summary renders the README's summary of the questions (without the markers): one table row per
// question, linked to its full text in QuestionsDoc, with the first row of its answer on the demo data.
func Summary(qs []Query, a Answers) string {
	var b strings.Builder
	b.WriteString("\n| # | question (SQL, notes and full answer: follow the link) | first row of the answer on the demo data |\n|---|---|---|\n")
	for i, q := range qs {
		sample := "(not generated yet)"
		if i < len(a.Tables) {
			sample = firstRow(a.Tables[i])
		}
		title := fmt.Sprintf("%d. %s", i+1, q.Question)
		fmt.Fprintf(&b, "| %d | [%s](%s#%s) | %s |\n", i+1, strings.ReplaceAll(q.Question, "|", "\\|"), QuestionsDoc, slug(title),
			"`"+strings.ReplaceAll(sample, "`", "'")+"`")
	}
	b.WriteString("\n")
	return b.String()
}

// firstRow is the first data row of a FormatTable answer, its cells separated by ", " and cut at 80
// characters, or "(no row)".
func firstRow(table string) string {
	lines := strings.Split(table, "\n")
	if len(lines) < 3 || strings.HasPrefix(lines[2], "(") {
		return "(no row)"
	}
	cells := strings.Split(lines[2], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	row := strings.ReplaceAll(strings.Join(cells, ", "), "|", "/")
	if r := []rune(row); len(r) > 80 {
		row = string(r[:79]) + "…"
	}
	return row
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

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

// SplitReadme returns the questions document (QuestionsDoc) around its generated section, and the
// answers found in it.
func SplitReadme(readme string) (before, section, after string, answers Answers, err error) {
	before, section, after, err = splitMarked(readme, BeginMarker, EndMarker)
	if err != nil {
		return "", "", "", Answers{}, err
	}
	if m := generatedLine.FindStringSubmatch(section); m != nil {
		answers.Generated = m[1]
	}
	for _, m := range answerBlock.FindAllStringSubmatch(section, -1) {
		answers.Tables = append(answers.Tables, m[1])
	}
	return before, section, after, answers, nil
}

// splitMarked cuts text around the lines begin and end.
func splitMarked(text, begin, end string) (before, section, after string, err error) {
	i := strings.Index(text, begin+"\n")
	j := strings.Index(text, "\n"+end)
	if i < 0 || j < i {
		return "", "", "", fmt.Errorf("no generated section: want the lines %q and %q", begin, end)
	}
	return text[:i+len(begin)+1], text[i+len(begin)+1 : j+1], text[j+1:], nil
}

// ReplaceSection returns readme with its generated section of the documented queries replaced by section.
func ReplaceSection(readme, section string) (string, error) {
	return replaceMarked(readme, BeginMarker, EndMarker, section)
}

// SummarySection returns the README's generated summary of the questions.
func SummarySection(readme string) (string, error) {
	_, section, _, err := splitMarked(readme, SummaryBeginMarker, SummaryEndMarker)
	return section, err
}

// ReplaceSummary returns readme with its generated summary replaced by summary.
func ReplaceSummary(readme, summary string) (string, error) {
	return replaceMarked(readme, SummaryBeginMarker, SummaryEndMarker, summary)
}

func replaceMarked(text, begin, end, section string) (string, error) {
	before, _, after, err := splitMarked(text, begin, end)
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
