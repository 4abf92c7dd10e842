package demodb

import "syscall"

// setParentDeathSignal has the kernel stop the private server (SIGQUIT: immediate shutdown) if the
// demo dies without stopping it.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
