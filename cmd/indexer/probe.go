package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vizjob/indexer/internal/probe"
)

func runProbe(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "probe", "probe [flags]\n\n"+
		"Read-only check of each configured source against the assumptions the sync relies on where the\n"+
		"API documentation is silent (about ten requests per source, no database needed). Prints a table:\n"+
		"the assumption, what was observed, ok or unexpected, and what the indexer does when it does not hold.\n"+
		"Exit codes: 0 every assumption holds; 1 one does not (or could not be checked); 2 usage or configuration error.")
	cf := addConfigFlags(fs, true)
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

func printChecks(w io.Writer, source, endpoint, auth string, checks []probe.Check) {
	fmt.Fprintf(w, "source %s (%s, %s)\n\n", source, endpoint, auth)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tVERDICT\tASSUMPTION\tOBSERVED")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Verdict, c.Assumption, c.Observed)
	}
	_ = tw.Flush()
	bad, skipped := 0, 0
	for _, c := range checks {
		if c.Verdict != probe.Unexpected {
			continue
		}
		if bad == 0 {
			fmt.Fprintln(w, "\nWhat the indexer does about what does not hold:")
		}
		bad++
		fmt.Fprintf(w, "  %s: %s\n", c.Name, c.Consequence)
	}
	for _, c := range checks {
		if c.Verdict == probe.Skipped {
			skipped++
		}
	}
	switch {
	case bad == 0 && skipped == 0:
		fmt.Fprintln(w, "\nEvery assumption holds.")
	case skipped > 0:
		fmt.Fprintf(w, "\n%d checks could not be made; fix what is above and probe again.\n", skipped)
	}
	fmt.Fprintln(w)
}
