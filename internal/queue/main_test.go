package queue_test

import (
	"os"
	"testing"

	"github.com/vizjob/indexer/internal/testmain"
)

// TestMain runs more tests at once than go test's default (they wait on River's timers).
func TestMain(m *testing.M) {
	testmain.Parallelism()
	os.Exit(m.Run())
}
