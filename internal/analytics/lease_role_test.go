package analytics

import (
	"testing"

	"github.com/vizjob/indexer/internal/store"
)

// TestReadOnlySessionCannotHoldASource: a BI login of the read-only role recipe tries every way it
// has to hold a source (the advisory lock runs used to take, the lease row, a lock on its table,
// a transaction left open over it): none keeps the indexer from running the source, and the row
// locks and writes are refused. Before the lease (issue 28), its pg_advisory_lock made every run of
// the source skip, silently.
func TestReadOnlySessionCannotHoldASource(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, dbURL, roles, _ := withRoleRecipe(t)

	// A run has been and gone: the lease table has the source's row shape to aim at.
	r, err := st.BeginRun(ctx, "s", store.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, store.RunStats{State: store.StateSucceeded}); err != nil {
		t.Fatal(err)
	}

	bi := connect(t, withUser(t, dbURL, roles[1]))
	// The advisory lock runs used before the lease, with its key: the recipe revokes the advisory lock
	// functions from PUBLIC; where they are left open, taking it no longer matters.
	if _, err := bi.Exec(ctx, "SELECT pg_advisory_lock(1447647818, hashtext('s'))"); err != nil && sqlState(err) != "42501" {
		t.Fatalf("pg_advisory_lock by the BI login: %v, want it taken or insufficient_privilege (42501)", err)
	}
	exec(t, bi, "SET default_transaction_read_only = off")
	for _, q := range []string{
		"INSERT INTO modelarts.source_leases (source, expires_at) VALUES ('s', 'infinity')",
		"SELECT * FROM modelarts.source_leases FOR KEY SHARE",
		"SELECT * FROM modelarts.source_leases FOR UPDATE",
		"LOCK TABLE modelarts.source_leases IN SHARE MODE",
	} {
		if _, err := bi.Exec(ctx, "BEGIN; "+q+"; COMMIT"); sqlState(err) != "42501" {
			t.Errorf("%s by the BI login: %v, want insufficient_privilege (42501)", q, err)
		}
		exec(t, bi, "ROLLBACK")
	}
	// What it may do: read the leases, in a transaction it leaves open.
	exec(t, bi, "BEGIN; SELECT * FROM modelarts.source_leases; LOCK TABLE modelarts.source_leases IN ACCESS SHARE MODE")

	r, err = st.BeginRun(ctx, "s", store.RunOptions{})
	if err != nil {
		t.Fatalf("a run of the source while a BI session holds what it can: %v", err)
	}
	if err := r.Finish(ctx, store.RunStats{State: store.StateSucceeded}); err != nil {
		t.Fatalf("finish while a BI session holds what it can: %v", err)
	}
	exec(t, bi, "ROLLBACK")
}
