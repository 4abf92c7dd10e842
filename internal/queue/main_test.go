package queue_test

import (
	"os"
	"testing"

	"github.com/vizjob/indexer/internal/testdb"
	"github.com/vizjob/indexer/internal/testmain"
)

// TestMain runs more tests at once than go test's default (they wait on River's timers) and pools
// their migrated databases.
func TestMain(m *testing.M) {
	testmain.Parallelism()
	os.Exit(testdb.Run(m))
}
