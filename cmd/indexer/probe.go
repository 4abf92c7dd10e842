package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/vizjob/indexer/internal/probe"
)

func runProbe(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "probe", "probe [flags]\n\n"+
		"Read-only check of each configured source against the assumptions the sync relies on where the\n"+
		"API documentation is silent (about ten requests per source, no database needed). Prints a table:\n"+
		"the assumption, what was observed, ok or unexpected, and what the indexer does when it does not hold.\n"+
		"Exit codes: 0 every assumption holds; 1 one does not (or could not be checked); 2 usage or configuration error.")
	cf := addConfigFlags(fs, true)
	cf.noDatabase = true
	asJSON := fs.Bool("json", false, "print the results as JSON (an array of sources with their checks)")
	if stop, code := parseFlags(e, fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "indexer probe: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		return configError(e, err)
	}
	log := configLogger(e.stderr, cfg)

	type result struct {
		Source   string        `json:"source"`
		Endpoint string        `json:"endpoint"`
		Auth     string        `json:"auth"`
		OK       bool          `json:"ok"`
		Checks   []probe.Check `json:"checks"`
	}
	var results []result
	code := exitOK
	for _, src := range cfg.Sources {
		client, err := newClient(cfg, src, log)
		if err != nil {
			fmt.Fprintf(e.stderr, "indexer probe: source %s: %v\n", src.Name, err)
			return exitUsage
		}
		checks := probe.Run(ctx, client, probe.Options{PerPage: src.PerPage, AuthMode: client.AuthMode()})
		r := result{Source: src.Name, Endpoint: src.Endpoint, Auth: client.AuthMode(), OK: probe.AllOK(checks), Checks: checks}
		if !r.OK {
			code = exitFailed
		}
		results = append(results, r)
		if !*asJSON {
			printChecks(e.stdout, r.Source, r.Endpoint, r.Auth, checks)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return exitFailed
		}
	}
	return code
}

// probeWidth is the width the probe's table fits in: each check's assumption, what was observed and,
// for a check that does not hold, what the indexer does about it, wrapped under its name and verdict.
const probeWidth = 100

func printChecks(w io.Writer, source, endpoint, auth string, checks []probe.Check) {
	fmt.Fprintf(w, "source %s (%s, %s)\n\n", source, endpoint, auth)
	const nameCol, verdictCol = 21, 12
	indent := strings.Repeat(" ", nameCol+verdictCol)
	fmt.Fprintf(w, "%-*s%-*s%s\n", nameCol, "CHECK", verdictCol, "VERDICT", "ASSUMPTION, OBSERVED")
	for _, c := range checks {
		lines := wrap(c.Assumption, probeWidth-len(indent))
		lines = append(lines, wrap("observed: "+c.Observed, probeWidth-len(indent))...)
		fmt.Fprintf(w, "%-*s%-*s%s\n", nameCol, c.Name, verdictCol, c.Verdict, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%s%s\n", indent, l)
		}
	}
	bad, skipped := 0, 0
	for _, c := range checks {
		if c.Verdict != probe.Unexpected {
			continue
		}
		if bad == 0 {
			fmt.Fprintln(w, "\nWhat the indexer does about what does not hold:")
		}
		bad++
		for i, l := range wrap(c.Name+": "+c.Consequence, probeWidth-4) {
			fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", 2+2*min(i, 1)), l)
		}
	}
	for _, c := range checks {
		if c.Verdict == probe.Skipped {
			skipped++
		}
	}
	switch {
	case bad == 0 && skipped == 0 && probe.AllOK(checks):
		fmt.Fprintln(w, "\nEvery assumption holds.")
	case skipped > 0:
		fmt.Fprintf(w, "\n%d checks could not be made; fix what is above and probe again.\n", skipped)
	}
	fmt.Fprintln(w)
}

// wrap breaks text into lines of at most width characters at spaces; a word longer than width (a
// URL) stays whole on a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
