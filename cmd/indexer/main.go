// Command indexer mirrors Huawei Cloud ModelArts visualization jobs, with full
// history, into PostgreSQL. See README.md; `indexer --help` lists the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // INDEXER_TIMEZONE works in images without a zoneinfo database
)

// main is thin: the first SIGINT or SIGTERM cancels the context Main runs under
// (the daemon then shuts down in order); a second one exits at once.
func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		cancel(fmt.Errorf("interrupted by signal %s", sig))
		sig = <-signals
		fmt.Fprintf(os.Stderr, "indexer: second signal (%s): exiting at once\n", sig)
		os.Exit(exitFailed)
	}()
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	cancel(nil)
	os.Exit(code)
}
