package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
)

// TestAdaptiveRateFindsTheQuota makes the 1 000 page requests of a walk of
// 100 000 jobs (as 1 000 pages of one job: the rate sees requests, not bytes)
// against a quota of 20 requests/s, starting from the default 5 requests/s, on
// simulated time: the walk must take at most 1.2x the ideal 1 000/20 = 50 s
// and at most 2% of the requests may be throttled. It logs the figures.
// `indexer bench` measures the same walk with 100-job pages in real time.
func TestAdaptiveRateFindsTheQuota(t *testing.T) {
	const (
		jobs    = 1000 // one a page: the requests of a walk of 100 000 jobs, without the bytes
		perPage = 1
		quota   = 20.0
		start   = 5.0
		ceiling = 50.0
	)
	synctest.Test(t, func(t *testing.T) {
		sim := simulator.New(simulator.Options{Jobs: jobs, Seed: 1, Quota: simulator.Quota{Rate: quota}})
		c, err := fetch.New(fetch.Config{
			Endpoint: "http://127.0.0.1:1" /* never dialled: simulator.InMemory serves */, ProjectID: simulator.DefaultProjectID,
			AK: simulator.DefaultAK, SK: simulator.DefaultSK,
			HTTPClient: &http.Client{Transport: simulator.InMemory(sim.Handler())},
			RateLimit:  start, MaxRateLimit: ceiling,
		})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		res, err := fetch.Walk(context.Background(), c, fetch.WalkOptions{Concurrency: 4, PerPage: perPage},
			func(context.Context, *fetch.Page) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		qs := sim.QuotaStats()
		requests := qs.Admitted + qs.Throttled
		ideal := time.Duration(float64(qs.Admitted) / quota * float64(time.Second))
		share := float64(qs.Throttled) / float64(requests)
		t.Logf("walk of %d jobs: %d requests, %s (ideal %s, %.2fx), %d throttled (%.2f%%), settled at %.1f requests/s",
			res.Delivered, requests, took, ideal, took.Seconds()/ideal.Seconds(), qs.Throttled, 100*share, c.Rate())
		if res.Delivered != jobs {
			t.Errorf("delivered %d jobs, want %d", res.Delivered, jobs)
		}
		if took > ideal*12/10 {
			t.Errorf("walk took %s, more than 1.2x the ideal %s", took, ideal)
		}
		if share > 0.02 {
			t.Errorf("%d of %d requests throttled (%.1f%%), want at most 2%%", qs.Throttled, requests, 100*share)
		}
	})
}

// TestAdaptiveRateHonoursRetryAfter: after a 429 asking for 3 s, no request
// (the retry or another page's) is sent before those 3 s have passed, and the
// rate backs off.
func TestAdaptiveRateHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := simulator.New(simulator.Options{Jobs: 1000, Seed: 1,
			Faults: simulator.Faults{ThrottleEvery: 3, RetryAfter: 3 * time.Second}})
		var sent []time.Time
		h := sim.Handler()
		c, err := fetch.New(fetch.Config{
			Endpoint: "http://127.0.0.1:1" /* never dialled: simulator.InMemory serves */, ProjectID: simulator.DefaultProjectID,
			AK: simulator.DefaultAK, SK: simulator.DefaultSK,
			HTTPClient: &http.Client{Transport: simulator.InMemory(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent = append(sent, time.Now())
				h.ServeHTTP(w, r)
			}))},
			RateLimit: 10, MaxRateLimit: 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetch.Walk(context.Background(), c, fetch.WalkOptions{}, func(context.Context, *fetch.Page) error { return nil }); err != nil {
			t.Fatal(err)
		}
		// Requests 3, 6, 9, ... were throttled: the one after each waited 3 s.
		for i := 2; i+1 < len(sent); i += 3 {
			if gap := sent[i+1].Sub(sent[i]); gap < 3*time.Second {
				t.Errorf("request %d came %s after the 429 of request %d, want at least 3s", i+2, gap, i+1)
			}
		}
		if r := c.Rate(); r >= 10 {
			t.Errorf("rate %.1f after 429s, want below the starting 10", r)
		}
	})
}

// TestWalkFailsFastWhenTheDeadlineCannotBeMet: 10 000 jobs are 100 more
// requests after page 1 (99 pages and the empty one that confirms the end), 20 s at a ceiling of 5 requests/s: with 10 s left
// the walk stops after page 1 and names what to raise.
func TestWalkFailsFastWhenTheDeadlineCannotBeMet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := simulator.New(simulator.Options{Jobs: 10_000, Seed: 1})
		c, err := fetch.New(fetch.Config{
			Endpoint: "http://127.0.0.1:1" /* never dialled: simulator.InMemory serves */, ProjectID: simulator.DefaultProjectID,
			AK: simulator.DefaultAK, SK: simulator.DefaultSK,
			HTTPClient: &http.Client{Transport: simulator.InMemory(sim.Handler())},
			RateLimit:  5, MaxRateLimit: 5,
			// The indexer names its settings (config.Config.Origin, in syncer.NewRunner).
			RunTimeoutSetting: "INDEXER_RUN_TIMEOUT", MaxRateSetting: "INDEXER_MAX_RATE_LIMIT",
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m := new(fetch.Meter)
		_, err = fetch.Walk(fetch.WithMeter(ctx, m), c, fetch.WalkOptions{}, func(context.Context, *fetch.Page) error { return nil })
		var de *fetch.DeadlineError
		if !errors.As(err, &de) {
			t.Fatalf("walk error = %v, want a *fetch.DeadlineError", err)
		}
		if de.Jobs != 10_000 || de.Requests != 100 || m.Counts().List != 1 {
			t.Errorf("error %+v after %d requests, want 10000 jobs, 100 requests, after 1 request", de, m.Counts().List)
		}
		for _, want := range []string{"INDEXER_RUN_TIMEOUT", "INDEXER_MAX_RATE_LIMIT", "at least 20s", "to at least 1m0s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		// Without names from the caller, fetch describes the settings and names none of the indexer's.
		de.DeadlineSetting, de.RateSetting = "", ""
		if msg := de.Error(); strings.Contains(msg, "INDEXER_") || !strings.Contains(msg, "raise the run deadline to at least 1m0s, or the rate ceiling if") {
			t.Errorf("error without setting names: %q", msg)
		}
	})
}
