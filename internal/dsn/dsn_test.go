package dsn

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		secrets  []string
	}{
		{in: "postgres://u:secret@db:5432/x?sslmode=disable", want: "postgres://u:xxxxx@db:5432/x?sslmode=disable", secrets: []string{"secret"}},
		{in: "postgres://u:pa@ss@db/x", want: "postgres://u:xxxxx@db/x", secrets: []string{"pa@ss", "ss@"}},
		{in: "postgresql://u:p%40ss%2Fw@db/x", want: "postgresql://u:xxxxx@db/x", secrets: []string{"p%40ss", "p@ss/w"}},
		{in: "postgres://u:pa/ss@db/x", want: "postgres://u:xxxxx@db/x", secrets: []string{"pa/ss"}},
		{in: "postgres://u:secret@h1:5432,h2:5433/x", want: "postgres://u:xxxxx@h1:5432,h2:5433/x", secrets: []string{"secret"}},
		{in: "postgres://u@db/x?password=se%26cret&sslmode=disable", want: "postgres://u@db/x?password=xxxxx&sslmode=disable", secrets: []string{"se%26cret", "se&cret"}},
		{in: "postgres://db/x", want: "postgres://db/x", secrets: nil},
		{in: "host=db user=u password=secret dbname=x", want: "host=db user=u password=xxxxx dbname=x", secrets: []string{"secret"}},
		{in: "host=db password = 'it''s' dbname=x", want: "(a connection string that does not parse; not shown)", secrets: []string{"it"}},
		{in: `host=db password='it\'s a \\ secret' dbname=x`, want: "host=db password=xxxxx dbname=x", secrets: []string{`it\'s`, "a \\", "secret"}},
		{in: `host=db password=sec\ ret dbname=x`, want: "host=db password=xxxxx dbname=x", secrets: []string{"sec", "ret"}},
		{in: "host=db password='unterminated", want: "(a connection string that does not parse; not shown)", secrets: []string{"unterminated"}},
		{in: "password=", want: "password=xxxxx", secrets: nil},
	} {
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("Redact(%q) = %q leaks %q", tc.in, got, s)
			}
		}
	}
}

func TestPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pa@ss@db/x":                 "pa@ss",
		"postgres://u:p%40ss@db/x":                "p@ss",
		`host=db password='it\'s' user=u`:         "it's",
		"postgres://u@db/x?password=a%20b&user=u": "a b",
		"host=db user=u":                          "",
	} {
		got := Password(in)
		found := want == "" && len(got) == 0
		for _, p := range got {
			found = found || p == want
		}
		if !found {
			t.Errorf("Password(%q) = %q, want it to include %q", in, got, want)
		}
	}
}

// FuzzRedact: any string parses without panic, and a password put in either form never shows.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"s3cr3t-pw", "pa@ss", "it's", `back\slash`, "sp ace", "per%cent", "sl/ash?q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 6 || strings.ContainsAny(pw, "\x00") {
			return
		}
		quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
		for _, s := range []string{
			"host=db user=u password=" + quoted + " dbname=x",
			"postgres://u:" + url.PathEscape(pw) + "@db/x",
			"postgres://u@db/x?password=" + url.QueryEscape(pw),
		} {
			if got := Redact(s); strings.Contains(got, pw) && !strings.Contains("host=db user=u dbname=x postgres://u@db/x?password=xxxxx", pw) {
				t.Errorf("Redact(%q) = %q shows the password", s, got)
			}
		}
	})
}
