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
