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
		{"postgres://u:secret@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable", []string{"secret"}},
		{"postgres://u:pa@ss@db/x", "postgres://u:xxxxx@db/x", []string{"pa@ss", "ss@"}},
		{"postgresql://u:p%40ss%2Fw@db/x", "postgresql://u:xxxxx@db/x", []string{"p%40ss", "p@ss/w"}},
		{"postgres://u:pa/ss@db/x", "postgres://u:xxxxx@db/x", []string{"pa/ss"}},
		{"postgres://u:secret@h1:5432,h2:5433/x", "postgres://u:xxxxx@h1:5432,h2:5433/x", []string{"secret"}},
		{"postgres://u@db/x?password=se%26cret&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable", []string{"se%26cret", "se&cret"}},
		{"postgres://db/x", "postgres://db/x", nil},
		{"host=db user=u password=secret dbname=x", "host=db user=u password=xxxxx dbname=x", []string{"secret"}},
		{"host=db password = 'it''s' dbname=x", "(a connection string that does not parse; not shown)", []string{"it"}},
		{`host=db password='it\'s a \\ secret' dbname=x`, "host=db password=xxxxx dbname=x", []string{`it\'s`, "a \\", "secret"}},
		{`host=db password=sec\ ret dbname=x`, "host=db password=xxxxx dbname=x", []string{"sec", "ret"}},
		{"host=db password='unterminated", "(a connection string that does not parse; not shown)", []string{"unterminated"}},
		{"password=", "password=xxxxx", nil},
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
