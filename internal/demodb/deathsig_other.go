//go:build unix && !linux

package demodb

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death signal: a demo killed with
// SIGKILL leaves its private server running (its directory names it).
func setParentDeathSignal(*syscall.SysProcAttr) {}
