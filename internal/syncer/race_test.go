//go:build race

package syncer_test

// raceDetector is whether the tests run under the race detector (go test -race), which multiplies the
// CPU of the Go side of every sync several times over: the property tests draw fewer cases then.
const raceDetector = true
