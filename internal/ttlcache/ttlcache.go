// Package ttlcache keeps one value, loaded at most once per period however many callers ask for it:
// what lets the daemon answer a flood of HTTP requests with a few database reads.
package ttlcache

import (
	"context"
	"sync"
	"time"
)

// Value is a value of type T loaded by Load and reused for TTL; its error is kept as long. Callers
// that find it stale while it is being loaded wait for that load instead of starting another. The
// zero Value is not usable: set TTL and Load.
type Value[T any] struct {
	TTL time.Duration
	// Load reads the value. Its ctx is not cancelled with the caller that triggered it, since
	// other callers may wait for the result: Load bounds its own time.
	Load func(ctx context.Context) (T, error)
	Now  func() time.Time // test hook; nil: time.Now

	mu      sync.Mutex
	val     T
	err     error
	at      time.Time     // when val and err were loaded; zero: never
	loading chan struct{} // closed when the load in progress ends; nil: none
}

// Get returns the value, loading it if it is older than TTL. It returns early with ctx's error if
// ctx ends while it waits.
func (c *Value[T]) Get(ctx context.Context) (T, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	if !c.at.IsZero() && now().Sub(c.at) < c.TTL {
		v, err := c.val, c.err
		c.mu.Unlock()
		return v, err
	}
	if ch := c.loading; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.val, c.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	ch := make(chan struct{})
	c.loading = ch
	c.mu.Unlock()

	v, err := c.Load(context.WithoutCancel(ctx))
	c.mu.Lock()
	c.val, c.err, c.at, c.loading = v, err, now(), nil
	c.mu.Unlock()
	close(ch)
	return v, err
}
