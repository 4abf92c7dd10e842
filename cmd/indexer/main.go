// Command indexer mirrors Huawei Cloud ModelArts visualization jobs, with full
// history, into PostgreSQL. See README.md; `indexer --help` lists the commands.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	_ "time/tzdata" // INDEXER_TIMEZONE works in images without a zoneinfo database

	"github.com/vizjob/indexer/internal/config"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT sets one: the garbage
// collector then returns the garbage of large pages (decoding a 32 MB page makes about three times
// that) before the heap doubles. The pages a walk holds are bounded apart (fetch.DefaultMaxBufferBytes).
const defaultMemoryLimit = 192 << 20

// main is thin: the first SIGINT or SIGTERM cancels the context Main runs under
// (the daemon then shuts down in order); a second one exits at once.
func main() {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 { // no GOMEMLIMIT
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
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
	stopProfile := startCPUProfile(config.CPUProfile(os.Getenv))
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	cancel(nil)
	stopProfile()
	os.Exit(code)
}

// startCPUProfile starts a CPU profile to path (none when path is empty) and returns what stops it.
func startCPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "indexer: %s: %v; running without a CPU profile (set it to a writable file, or unset it)\n", config.EnvCPUProfile, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
