package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/dsn"
	"github.com/vizjob/indexer/internal/store"
)

// configFlags are the flags that override the environment: one for each setting of config.Settings
// that has one. Secrets have no flags on purpose: a command line is visible to every user of the
// machine (ps, /proc); use the variables or their *_FILE forms.
type configFlags struct {
	fs     *flag.FlagSet
	values map[string]any // flag name -> the pointer the flag package fills
	source bool           // the command syncs or probes a source (the source scope's flags)

	database       *string // --database-url, kept for warn
	noDatabase     bool    // the command does not use the database (probe): its URL is not checked
	passwordInFlag bool    // --database-url carries a password (see warn)
}

// addConfigFlags defines the flags of the scopes a command has: the base scope always, the source
// scope when withSource, the daemon's with addDaemonFlags.
func addConfigFlags(fs *flag.FlagSet, withSource bool) *configFlags {
	f := &configFlags{fs: fs, values: map[string]any{}, source: withSource}
	f.define(config.ScopeBase)
	if withSource {
		f.define(config.ScopeSource)
	}
	f.database = f.values["database-url"].(*string)
	return f
}

// addDaemonFlags adds the daemon's flags (indexer run).
func addDaemonFlags(f *configFlags) { f.define(config.ScopeDaemon) }

// define defines the flags of one scope, each of the type of the field it sets.
func (f *configFlags) define(scope config.Scope) {
	probe := &config.Config{Sources: make([]config.Source, 1)}
	for _, s := range config.Settings() {
		if s.Flag == "" || s.Scope != scope {
			continue
		}
		switch s.Field(probe).(type) {
		case *string:
			f.values[s.Flag] = f.fs.String(s.Flag, "", s.Usage())
		case *int:
			f.values[s.Flag] = f.fs.Int(s.Flag, 0, s.Usage())
		case *float64:
			f.values[s.Flag] = f.fs.Float64(s.Flag, 0, s.Usage())
		case *bool:
			f.values[s.Flag] = f.fs.Bool(s.Flag, false, s.Usage())
		case *time.Duration:
			f.values[s.Flag] = f.fs.Duration(s.Flag, 0, s.Usage())
		default:
			panic("flag " + s.Flag + ": a field of an unsupported type")
		}
	}
}

// load reads the environment, applies the flags that were set, and validates.
func (f *configFlags) load(getenv func(string) string) (*config.Config, error) {
	c, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	byFlag := map[string]config.Setting{}
	for _, s := range config.Settings() {
		if s.Flag != "" {
			byFlag[s.Flag] = s
		}
	}
	var perSource []string // flags of the environment's one source, meaningless with a configuration file
	f.fs.Visit(func(fl *flag.Flag) {
		s, ok := byFlag[fl.Name]
		if _, defined := f.values[fl.Name]; !ok || !defined {
			return // a flag of the command's own (demo has its own --schedule and --source)
		}
		if s.PerSource && c.ConfigFile != "" {
			perSource = append(perSource, "--"+fl.Name)
			return
		}
		if s.PerSource && len(c.Sources) == 0 {
			return
		}
		c.SetBy(s.Variable, "--"+fl.Name)
		switch dst := s.Field(c).(type) {
		case *string:
			*dst = *f.values[fl.Name].(*string)
		case *int:
			*dst = *f.values[fl.Name].(*int)
		case *float64:
			*dst = *f.values[fl.Name].(*float64)
		case *bool:
			*dst = *f.values[fl.Name].(*bool)
		case *time.Duration:
			*dst = *f.values[fl.Name].(*time.Duration)
		}
		if fl.Name == "database-url" {
			f.passwordInFlag = len(dsn.Password(*f.database)) > 0
		}
	})
	if len(perSource) > 0 {
		return nil, fmt.Errorf("%s configure the source of the environment; with %s=%s, set them per source in the file",
			strings.Join(perSource, ", "), config.EnvConfigFile, c.ConfigFile)
	}
	if !f.noDatabase {
		if err := checkDatabaseURL(c); err != nil {
			return nil, err
		}
	}
	if !f.source {
		// Commands without a source (migrate) only need the database settings.
		c.Sources = nil
		return c, c.ValidateBase()
	}
	return c, c.Validate()
}

// databaseURLForms is what a database URL may look like, for messages.
const databaseURLForms = "expected postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require " +
	"(write @ : / in the password as %40 %3A %2F), or keyword/value: host=HOST port=5432 dbname=DATABASE user=USER"

// checkDatabaseURL says, before anything connects, that the database URL does not parse: it names
// the flag or variable as the user typed it and the forms a URL may take, never the password.
func checkDatabaseURL(c *config.Config) error {
	err := store.CheckURL(c.DatabaseURL)
	if err == nil {
		return nil
	}
	what := c.DatabaseURLOrigin()
	if what == "" {
		what = "the libpq PG* variables"
	}
	why := strings.TrimPrefix(strings.TrimPrefix(err.Error(), store.ErrInvalidURL.Error()), ":")
	return fmt.Errorf("%s is not a PostgreSQL connection string:%s\n%s", what, why, databaseURLForms)
}

// warn logs what a configuration may do but should not: a password on the command line, which every
// user of the machine can read (ps, /proc/PID/cmdline).
func (f *configFlags) warn(log *slog.Logger) {
	if f.passwordInFlag {
		log.Warn("--database-url carries a password, visible to every user of this machine in the process list; "+
			"put the URL in a file and set "+config.EnvDatabaseURL+"_FILE to its path, or use ~/.pgpass",
			"database", config.RedactDatabaseURL(*f.database))
	}
}
