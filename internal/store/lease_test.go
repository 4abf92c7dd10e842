package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/testdb"
)

// TestDeadHolderLosesLockWithinLease: a run holds a source's lock through a proxy; the network
// freezes (nothing crosses, nothing is closed) and the holder is gone: another process can take the
// source again within the lease, where the server's TCP keepalive would have taken hours.
func TestDeadHolderLosesLockWithinLease(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	direct := migratedStore(t)
	db := direct.pool.Config().ConnConfig.ConnString()
	proxy, viaProxy := testdb.NewProxy(t, db)
	holder, err := Open(t.Context(), viaProxy, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := holder.BeginRun(t.Context(), "s", RunOptions{LockLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	// Alive, the holder keeps its lock past the lease, idle between pages.
	time.Sleep(lease + lease/2)
	if _, err := direct.BeginRun(t.Context(), "s", RunOptions{}); !errors.Is(err, ErrSourceBusy) {
		t.Fatalf("a live holder lost its lock: BeginRun = %v, want ErrSourceBusy", err)
	}

	proxy.Freeze(true) // the network goes silent; the holder can no longer reach the server
	frozen := time.Now()
	var took time.Duration
	for {
		r2, err := direct.BeginRun(t.Context(), "s", RunOptions{})
		if err == nil {
			took = time.Since(frozen)
			if err := r2.Finish(t.Context(), RunStats{State: StateSucceeded}); err != nil {
				t.Fatal(err)
			}
			break
		}
		if !errors.Is(err, ErrSourceBusy) {
			t.Fatal(err)
		}
		if time.Since(frozen) > lease+10*time.Second {
			t.Fatalf("the lock is still held %s after the network froze (lease %s)", time.Since(frozen).Round(time.Millisecond), lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("lock free again %s after the network froze (lease %s)", took.Round(time.Millisecond), lease)
	if took > lease+2*time.Second {
		t.Errorf("lock freed after %s, want within the lease of %s", took, lease)
	}
	proxy.Freeze(false)
	proxy.CutAll()
	_ = r.Finish(context.Background(), RunStats{State: StateFailed})
	holder.Close()
}

// TestStatementOnAFrozenNetworkEnds: the network freezes while a statement of the run is in flight
// (the process and the server alive): the server ends the session after the lease, and the statement
// fails soon after instead of waiting for the run's deadline.
func TestStatementOnAFrozenNetworkEnds(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	direct := migratedStore(t)
	proxy, viaProxy := testdb.NewProxy(t, direct.pool.Config().ConnConfig.ConnString())
	holder, err := Open(t.Context(), viaProxy, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	r, err := holder.BeginRun(t.Context(), "s", RunOptions{LockLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Freeze(true)
	defer proxy.Freeze(false)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // the run's deadline, in effect
	defer cancel()
	start := time.Now()
	_, err = r.LiveCount(ctx)
	took := time.Since(start)
	t.Logf("the statement ended after %s (lease %s): %v", took.Round(time.Millisecond), lease, err)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("LiveCount on a frozen network: %v after %s, want a failure before the deadline", err, took)
	}
	if took > 2*lease+time.Minute {
		t.Errorf("the statement ended after %s, want within a few leases of %s", took, lease)
	}
	_ = r.Finish(context.Background(), RunStats{State: StateFailed})
}
