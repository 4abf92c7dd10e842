package fetch

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The adaptive rate's tuning. The gateway's quota is undocumented and differs
// per account, so the client looks for it: from the configured rate it grows
// by half each second in which it used its rate and met no 429 ("slow start",
// as TCP's), until the first 429; from then on it grows by a twentieth per
// second and, on a 429, drops to seven tenths and sends nothing until the
// answer's Retry-After has passed. Near the quota that is one 429 every
// several seconds and a mean rate within a few percent of the quota.
const (
	slowStartGrowth = 1.5  // rate factor per saturated second before the first 429
	steadyGrowth    = 0.05 // rate share added per saturated second after it
	backOffFactor   = 0.7  // rate factor on a 429
	minRate         = 0.2  // requests per second, the least the rate falls to
	rateWindow      = time.Second
	saturated       = 0.8 // share of the rate a window must use to count as limited by it
	defaultPause    = time.Second
)

// adaptiveRate spaces ModelArts requests at a rate it adapts to the
// server's 429s; it is safe for concurrent use.
type adaptiveRate struct {
	lim     *rate.Limiter
	ceiling float64

	mu          sync.Mutex
	rate        float64
	slowStart   bool      // no 429 seen yet
	pausedUntil time.Time // a 429's Retry-After: nothing is sent before
	decreasedAt time.Time // the last back-off: 429s of requests sent before it do not back off again
	window      time.Time // start of the current measuring window
	sent        int       // requests sent in it
	throttled   bool      // a 429 arrived in it
	throttles   int64     // 429s seen, in total
}

func newAdaptiveRate(start, ceiling float64) *adaptiveRate {
	ceiling = max(ceiling, start)
	return &adaptiveRate{
		lim:       rate.NewLimiter(rate.Limit(start), 1),
		ceiling:   ceiling,
		rate:      start,
		slowStart: ceiling > start,
		window:    time.Now(),
	}
}

// Wait blocks until a request may be sent: after any Retry-After, then at
// the current rate. It returns when the request is sent.
func (a *adaptiveRate) Wait(ctx context.Context) error {
	for {
		if d := a.pause(); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if err := a.lim.Wait(ctx); err != nil {
			return err
		}
		a.mu.Lock()
		paused := time.Now().Before(a.pausedUntil)
		if !paused {
			a.sent++
		}
		a.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

func (a *adaptiveRate) pause() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return time.Until(a.pausedUntil)
}

// observe adapts the rate to the answer of a request sent at sent: a 429
// backs off (once for the requests sent before the back-off) and pauses for
// retryAfter; a success grows the rate once a window in which the rate,
// not something else, limited the requests has passed.
func (a *adaptiveRate) observe(sent time.Time, status int, retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if status == http.StatusTooManyRequests {
		a.throttles++
		a.throttled = true
		a.pausedUntil = later(a.pausedUntil, now.Add(max(retryAfter, defaultPause)))
		if sent.Before(a.decreasedAt) {
			return
		}
		a.slowStart = false
		a.decreasedAt = now
		a.setRate(a.rate * backOffFactor)
		a.startWindow(now)
		return
	}
	if status/100 != 2 {
		return
	}
	elapsed := now.Sub(a.window)
	if elapsed < rateWindow {
		return
	}
	if !a.throttled && float64(a.sent) >= saturated*a.rate*elapsed.Seconds() {
		secs := min(elapsed.Seconds(), 2)
		if a.slowStart {
			a.setRate(a.rate * math.Pow(slowStartGrowth, secs))
		} else {
			a.setRate(a.rate * (1 + steadyGrowth*secs))
		}
	}
	a.startWindow(now)
}

func (a *adaptiveRate) setRate(r float64) {
	a.rate = min(max(r, minRate), a.ceiling)
	a.lim.SetLimit(rate.Limit(a.rate))
}

func (a *adaptiveRate) startWindow(now time.Time) {
	a.window, a.sent, a.throttled = now, 0, false
}

// Rate returns the current rate in requests per second.
func (a *adaptiveRate) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rate
}

// Throttled returns the number of 429s seen.
func (a *adaptiveRate) Throttled() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.throttles
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
