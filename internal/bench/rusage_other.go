//go:build !unix

package bench

import "os"

var interrupt os.Signal = os.Kill

// maxRSS is unknown on this system.
func maxRSS(*os.ProcessState) int64 { return 0 }
