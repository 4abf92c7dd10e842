package store

import (
	"context"
	"time"
)

// A statement of the run that does not come back: the network to the server froze (the process and
// the server alive, nothing crossing), so the server ended the run's session after the lease and
// released the source's lock, but the client still waits for an answer that will never come, until
// the run's deadline (30 minutes by default). The heartbeat, finding the connection in use for a
// lease, asks through another connection whether the run's session still exists; when the server
// says it does not, or cannot say for two leases, it closes the run's socket: the statement fails
// at once (ErrUnavailable) and the run ends. A statement that merely takes long keeps its session
// and is left alone.

// stuck checks a run whose connection has been in use for busy, and closes its socket when its
// session is gone. It reports whether it did.
func (r *Run) stuck(busy, lease time.Duration) bool {
	if busy < lease {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lease/2)
	defer cancel()
	var alive bool
	err := r.store.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)`, int64(r.backendPID)).Scan(&alive)
	switch {
	case err == nil && alive:
		return false
	case err != nil && busy < 2*lease:
		return false
	}
	why := "the server ended the run's session"
	if err != nil {
		why = "the server cannot be reached to ask about the run's session: " + interpretError(err).Error()
	}
	r.log.Warn("a statement of the run has not come back and "+why+"; closing its connection so that the run ends",
		"in_use_for", busy.Round(time.Second), "lock_lease", lease)
	_ = r.socket.Close()
	return true
}
