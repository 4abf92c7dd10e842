package testdb

import (
	"os"
	"testing"
)

// TestMain pools the migrated databases of the tests, as the packages that use this one do.
func TestMain(m *testing.M) {
	os.Exit(Run(m))
}
