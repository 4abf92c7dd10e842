// Package testmain sets how many tests of a package run at once, for packages whose tests mostly
// wait: on PostgreSQL, on HTTP servers, on subprocesses, on the timers of retries and schedules.
//
// go test runs at most -parallel tests (those that call t.Parallel) of a package at once, GOMAXPROCS
// by default: two on a 2-core machine, which then sits idle while both wait. Measured on such a
// machine, cmd/indexer's tests take 57 s with 2 at once and 30 s with 8, for less CPU in all (the
// daemons and polls of waiting tests stop sooner). Eight sessions' worth of tests stay well within
// PostgreSQL's default of 100 connections (38 at the peak of the whole suite).
package testmain

import (
	"flag"
	"runtime"
	"strconv"
)

// Parallel is the number of parallel tests Parallelism allows when GOMAXPROCS is lower.
const Parallel = 8

// Parallelism sets -test.parallel to the larger of Parallel and GOMAXPROCS, unless the command line
// sets it (go test -parallel N still decides). Call it from TestMain, before m.Run.
func Parallelism() {
	if !flag.Parsed() {
		flag.Parse()
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(Parallel, runtime.GOMAXPROCS(0))))
	}
}
