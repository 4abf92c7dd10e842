package ttlcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneLoadPerPeriod(t *testing.T) {
	var loads atomic.Int32
	now := time.Unix(0, 0)
	var mu sync.Mutex
	c := &Value[int]{TTL: 5 * time.Second,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Load: func(context.Context) (int, error) {
			time.Sleep(20 * time.Millisecond)
			return int(loads.Add(1)), nil
		}}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if v, err := c.Get(context.Background()); v != 1 || err != nil {
				t.Errorf("got %d %v, want the first load", v, err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	now = now.Add(5 * time.Second)
	mu.Unlock()
	if v, _ := c.Get(context.Background()); v != 2 || loads.Load() != 2 {
		t.Errorf("after the TTL: value %d after %d loads, want a second load", v, loads.Load())
	}
}

func TestErrorsKeptForTheTTL(t *testing.T) {
	var loads atomic.Int32
	c := &Value[int]{TTL: time.Hour, Load: func(context.Context) (int, error) {
		loads.Add(1)
		return 0, errors.New("down")
	}}
	for range 10 {
		if _, err := c.Get(context.Background()); err == nil {
			t.Fatal("no error")
		}
	}
	if loads.Load() != 1 {
		t.Errorf("%d loads, want 1", loads.Load())
	}
}
