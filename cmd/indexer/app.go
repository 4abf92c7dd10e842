package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/term"
)

// Exit codes of every command (SPEC.md).
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
		{"bench", "measure initial sync, resyncs, memory and requests against the simulator and a scratch database", runBench},
		{"version", "print the version", runVersion},
	}
}

// Main runs one command and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
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
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'indexer <command> --help' for the flags of a command. Configuration comes from the")
	fmt.Fprintln(w, "environment (see README.md); flags override it.")
}

// newFlagSet returns a flag set that prints its usage to stdout on --help.
func newFlagSet(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: indexer %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns the exit code to use when the command must stop.
func parseFlags(e env, fs *flag.FlagSet, args []string) (stop bool, code int) {
	fs.SetOutput(e.stderr)
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return true, exitOK
		}
	}
	if err := fs.Parse(args); err != nil {
		return true, exitUsage
	}
	return false, exitOK
}

// newLogger builds the one logger of the process: text on a terminal, JSON otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return strings.TrimSpace(v)
	}
	return "(devel)"
}

func runVersion(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "version", "version")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	fmt.Fprintln(e.stdout, "indexer", versionString())
	return exitOK
}

// configError prints a configuration problem, one line each, and returns exitUsage.
func configError(e env, err error) int {
	fmt.Fprintln(e.stderr, "indexer: configuration error:")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(e.stderr, "  "+line)
	}
	return exitUsage
}
