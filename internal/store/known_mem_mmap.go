//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import "syscall"

// allocTable returns n zero bytes outside the Go heap (an anonymous private mapping), and what gives
// them back. The garbage collector sizes the heap at about twice what is live in it: a table of a
// million jobs (16 MB) on the heap would cost twice that in resident memory, outside it once.
func allocTable(n int) ([]byte, func()) {
	if n == 0 {
		return nil, func() {}
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = syscall.Munmap(b) }
}
