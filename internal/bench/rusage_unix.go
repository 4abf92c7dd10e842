//go:build unix

package bench

import (
	"os"
	"runtime"
	"syscall"
)

var interrupt os.Signal = os.Interrupt

// maxRSS is the peak resident memory of a process that exited, in bytes; 0 if unknown.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there
	}
	return int64(ru.Maxrss) * 1024 // KiB on Linux and the BSDs
}
