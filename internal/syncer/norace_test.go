//go:build !race

package syncer_test

// raceDetector is whether the tests run under the race detector; see race_test.go.
const raceDetector = false
