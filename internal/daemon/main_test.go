package daemon

import (
	"os"
	"testing"

	"github.com/vizjob/indexer/internal/testmain"
)

// TestMain runs more tests at once than go test's default (most of them wait on PostgreSQL and HTTP).
func TestMain(m *testing.M) {
	testmain.Parallelism()
	os.Exit(m.Run())
}
