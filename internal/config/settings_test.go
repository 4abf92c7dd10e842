package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSettingsTable checks the table itself: one row per variable and per flag, each setting its
// own field, a default of its field's type, and help that says the variable and the default.
func TestSettingsTable(t *testing.T) {
	c := &Config{Sources: make([]Source, 1)}
	vars, flags, keys, fields := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[any]string{}
	for _, s := range Settings() {
		// A source's setting has a key in the configuration file, and only it.
		if s.PerSource != (s.Key != "") || (s.inDefaults || s.fileLiteral || s.checkSource != nil) && !s.PerSource {
			t.Errorf("%s: per source %v, key %q: a source's settings, and only they, have a key", s.Variable, s.PerSource, s.Key)
		}
		if s.Key != "" && keys[s.Key] {
			t.Errorf("%s: key %s of two rows", s.Variable, s.Key)
		}
		keys[s.Key] = true
		if (s.field == nil) == (s.source == nil) {
			t.Errorf("%s: a row sets a field of Config or of a Source, one of them", s.Variable)
		}
		if vars[s.Variable] {
			t.Errorf("%s: two rows", s.Variable)
		}
		vars[s.Variable] = true
		if s.Flag != "" {
			if flags[s.Flag] {
				t.Errorf("--%s: two rows", s.Flag)
			}
			flags[s.Flag] = true
		}
		if s.Secret && s.Flag != "" && s.Variable != EnvDatabaseURL {
			t.Errorf("%s is a secret with a flag (--%s): a command line is visible to every user", s.Variable, s.Flag)
		}
		f := s.Field(c)
		if other, dup := fields[f]; dup {
			t.Errorf("%s and %s set the same field", other, s.Variable)
		}
		fields[f] = s.Variable
		if s.def != nil {
			ok := false
			switch f.(type) {
			case *string:
				_, ok = s.def.(string)
			case *int:
				_, ok = s.def.(int)
			case *float64:
				_, ok = s.def.(float64)
			case *bool:
				_, ok = s.def.(bool)
			case *time.Duration:
				_, ok = s.def.(time.Duration)
			}
			if !ok {
				t.Errorf("%s: default %#v is not of its field's type %T", s.Variable, s.def, f)
			}
		}
		if u := s.Usage(); !strings.Contains(u, "env "+s.Variable) || (s.Default() != "" && !strings.Contains(u, "default "+s.Default())) {
			t.Errorf("%s: help %q does not say its variable and default", s.Variable, u)
		}
	}
	for in, want := range map[time.Duration]string{30 * time.Second: "30s", 2 * time.Minute: "2m", 24 * time.Hour: "24h", 90 * time.Second: "1m30s"} {
		if got := (Setting{def: in}).Default(); got != want {
			t.Errorf("default %v shows as %q, want %q", in, got, want)
		}
	}
}

// TestDefaultsFromTable: with nothing set, Load gives every setting its default.
func TestDefaultsFromTable(t *testing.T) {
	c, _ := Load(envOf(nil))
	for _, s := range Settings() {
		if s.def == nil {
			continue
		}
		var got any
		switch f := s.Field(c).(type) {
		case *string:
			got = *f
		case *int:
			got = *f
		case *float64:
			got = *f
		case *bool:
			got = *f
		case *time.Duration:
			got = *f
		}
		if got != s.def {
			t.Errorf("%s: Load gives %v, want the default %v", s.Variable, got, s.def)
		}
	}
}

// TestConfigurationDocDocumentsEverySetting: the settings table of docs/configuration.md names every
// variable and flag.
func TestConfigurationDocDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## Settings")
	end := strings.Index(doc[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("docs/configuration.md has no Settings section followed by another")
	}
	section := doc[start : start+1+end]
	for _, s := range Settings() {
		if !strings.Contains(section, "`"+s.Variable+"`") {
			t.Errorf("docs/configuration.md's Settings does not list %s", s.Variable)
		}
		if s.Flag != "" && !strings.Contains(section, "`--"+s.Flag+"`") {
			t.Errorf("docs/configuration.md's Settings does not list --%s (%s)", s.Flag, s.Variable)
		}
	}
}
