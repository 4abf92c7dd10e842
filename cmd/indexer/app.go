package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vizjob/indexer/internal/config"
)

// Exit codes of every command (the README, Commands).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitPartial = 3
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// env is the process environment as the commands see it (tests pass their own).
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	stdin          io.Reader // answers to questions (forget-source)
	cmd            string    // the command running, for messages
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"sync", "one sync of every configured source, then exit", runSync},
		{"run", "the daemon: migrate, then sync every source on its cron schedule; serve health and metrics", runRun},
		{"migrate", "apply, inspect or roll back the database schema: up | status | down", runMigrate},
		{"simulate", "serve the built-in ModelArts simulator (list API + IAM token API)", runSimulate},
		{"demo", "simulator + migrate + daemon in one process against the configured database", runDemo},
		{"probe", "read-only check of each source against the assumptions the sync relies on (run it first)", runProbe},
		{"forget-source", "delete every row of one source (jobs, history, runs), after confirmation or with --yes", runForgetSource},
		{"bench", "measure initial sync, resyncs, memory and requests against the simulator and a scratch database", runBench},
		{"version", "print the version", runVersion},
	}
}

// Main runs one command and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdout: stdout, stderr: stderr, getenv: getenv, stdin: os.Stdin}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "-v" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name == args[0] {
			e.cmd = c.name
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "indexer: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "indexer mirrors Huawei Cloud ModelArts visualization jobs, with history, into PostgreSQL.")
	fmt.Fprintln(w, "\nUsage: indexer <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'indexer <command> --help' for the flags of a command. Configuration comes from the")
	fmt.Fprintln(w, "environment (docs/configuration.md); flags override it.")
}

// newFlagSet returns a flag set that prints its usage to stdout on --help.
func newFlagSet(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: indexer %s\n", synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; it returns the exit code to use when the command must stop. A flag that
// cannot be parsed gets one line naming it and a hint, not the whole usage.
func parseFlags(e env, fs *flag.FlagSet, args []string) (stop bool, code int) {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return true, exitOK
		}
	}
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(e.stderr, "indexer %s: %s\n", fs.Name(), flagProblem(fs, err))
		fmt.Fprintf(e.stderr, "hint: 'indexer %s --help' lists the flags\n", fs.Name())
		return true, exitUsage
	}
	return false, exitOK
}

var (
	flagInvalidRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([\w-]+): (.*)$`)
	flagUnknownRE = regexp.MustCompile(`^flag provided but not defined: -+([\w-]+)$`)
	flagNoArgRE   = regexp.MustCompile(`^flag needs an argument: -+([\w-]+)$`)
)

// flagProblem rewrites an error of the flag package: flags spelled --name, and what a value must be.
func flagProblem(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := flagUnknownRE.FindStringSubmatch(msg); m != nil {
		return "unknown flag --" + m[1]
	}
	if m := flagNoArgRE.FindStringSubmatch(msg); m != nil {
		return "--" + m[1] + " needs a value"
	}
	m := flagInvalidRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	what := m[3]
	if fl := fs.Lookup(m[2]); fl != nil {
		if g, ok := fl.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case time.Duration:
				what = "not a duration (examples: 30s, 5m, 1h30m; a unit is required)"
			case bool:
				what = "use true or false"
			case int, int64, uint, uint64:
				what = "not an integer"
			case float64:
				what = "not a number"
			}
		}
	}
	return fmt.Sprintf("--%s %q: %s", m[2], m[1], what)
}

// configLogger builds the process's logger as cfg says, and logs the warnings loading cfg left.
func configLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	log := newLogger(w, cfg.LogLevel, cfg.LogFormat)
	for _, msg := range cfg.Warnings {
		log.Warn(msg)
	}
	return log
}

// newLogger builds the one logger of the process: text on a terminal, JSON otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: readableDurations}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// readableDurations logs durations as "30s", not as nanoseconds (30000000000 in JSON).
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel) (no build information)"
	}
	return describeBuild(bi)
}

// describeBuild says which code a binary was built from: the module version (a tag, or the
// pseudo-version `go install` and `go build` derive from the commit), then the module path, the VCS
// revision and time, whether the work tree had changes, and the Go version.
func describeBuild(bi *debug.BuildInfo) string {
	v := cmp.Or(bi.Main.Version, "(devel)")
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	details := []string{cmp.Or(bi.Main.Path, "github.com/vizjob/indexer")}
	if rev := settings["vcs.revision"]; rev != "" {
		r := "revision " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			r += " with uncommitted changes"
		}
		details = append(details, r)
		if t := settings["vcs.time"]; t != "" {
			details = append(details, t)
		}
	} else if bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		details = append(details, "no revision: built by go run or without VCS stamping; 'go install ./cmd/indexer' records it")
	}
	if bi.GoVersion != "" {
		details = append(details, bi.GoVersion)
	}
	return v + " (" + strings.Join(details, ", ") + ")"
}

func runVersion(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "version", "version\n\nPrints the version of the binary (also: indexer --version).")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	fmt.Fprintln(e.stdout, "indexer", versionString())
	return exitOK
}

// configError prints each configuration problem on one line, then a hint, and returns exitUsage.
func configError(e env, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(e.stderr, "indexer %s: %s\n", e.cmd, line)
	}
	fmt.Fprintf(e.stderr, "hint: flags: 'indexer %s --help'; variables: docs/configuration.md\n", e.cmd)
	return exitUsage
}
