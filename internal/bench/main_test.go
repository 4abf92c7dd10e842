package bench

import (
	"os"
	"testing"

	"github.com/vizjob/indexer/internal/testdb"
)

// TestMain pools the migrated databases of the tests and drops them at the end.
func TestMain(m *testing.M) {
	os.Exit(testdb.Run(m))
}
