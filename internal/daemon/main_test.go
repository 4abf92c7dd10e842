package daemon

import (
	"os"
	"testing"

	"github.com/vizjob/indexer/internal/testdb"
	"github.com/vizjob/indexer/internal/testmain"
)

// TestMain runs more tests at once than go test's default (most of them wait on PostgreSQL and HTTP)
// and pools their migrated databases.
func TestMain(m *testing.M) {
	testmain.Parallelism()
	os.Exit(testdb.Run(m)) // migrated databases pooled, dropped at the end
}
