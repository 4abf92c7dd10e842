package fetch

import (
	"context"
	"fmt"
	"time"
)

// budgeter is a Lister that knows how fast it may send requests; the walk
// asks it, once the first page has told the listing's length, whether the
// rest of the walk can finish before ctx's deadline.
type budgeter interface {
	fitsDeadline(ctx context.Context, total int64, requests int) error
}

var _ budgeter = (*Client)(nil)

// DeadlineError says that a walk cannot finish before its deadline at the
// most the rate limit allows: the numbers, and what to raise.
type DeadlineError struct {
	Jobs     int64         // job_total_count of the first page
	Requests int           // requests the rest of the walk needs, at least
	MaxRate  float64       // the rate's ceiling, requests per second
	Need     time.Duration // Requests at MaxRate
	Left     time.Duration // time left before the deadline

	// DeadlineSetting and RateSetting name the settings of the run's deadline and of the rate ceiling
	// (Config.RunTimeoutSetting, Config.MaxRateSetting); empty: described without a name.
	DeadlineSetting, RateSetting string
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("the listing holds %d jobs: %d more requests take at least %s at the rate ceiling of %g requests/s, "+
		"more than the %s left before the run's deadline: raise the run deadline%s to at least %s, "+
		"or the rate ceiling%s if the API's quota allows",
		e.Jobs, e.Requests, e.Need.Round(time.Second), e.MaxRate, e.Left.Round(time.Second), inParens(e.DeadlineSetting), roomFor(e.Need),
		inParens(e.RateSetting))
}

// inParens is " (name)", or "" without a name.
func inParens(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

// fitsDeadline fails fast when requests at the rate's ceiling outlast ctx's
// deadline, and warns when they would at the starting rate (the walk then
// relies on the rate growing).
func (c *Client) fitsDeadline(ctx context.Context, total int64, requests int) error {
	deadline, ok := ctx.Deadline()
	if c.limiter == nil || !ok || requests <= 0 {
		return nil
	}
	left := time.Until(deadline)
	at := func(rate float64) time.Duration {
		return time.Duration(float64(requests) / rate * float64(time.Second))
	}
	if need := at(c.limiter.ceiling); need > left {
		return &DeadlineError{Jobs: total, Requests: requests, MaxRate: c.limiter.ceiling, Need: need, Left: left,
			DeadlineSetting: c.cfg.RunTimeoutSetting, RateSetting: c.cfg.MaxRateSetting}
	}
	if start := c.cfg.RateLimit; at(start) > left {
		c.log.Warn("at the starting rate the walk would outlast the run's deadline: it relies on the API allowing more",
			"jobs", total, "requests", requests, "rate", start, "needs", at(start).Round(time.Second),
			"max_rate", c.limiter.ceiling, "deadline_in", left.Round(time.Second))
	}
	return nil
}

// roomFor is a deadline with a fifth to spare over need, in whole minutes.
func roomFor(need time.Duration) time.Duration {
	return (need + need/5 + time.Minute - 1).Truncate(time.Minute)
}
