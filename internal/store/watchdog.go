package store

import "net"

// A statement of the run that does not come back: the network to the server froze (the process and
// the server alive, nothing crossing). The heartbeat cannot renew the lease either; once it has not
// for a whole lease, the lease is as good as expired (another run may take the source), so it closes
// the socket of the connection the run's method is using: the statement fails at once
// (ErrUnavailable) instead of waiting for the run's deadline (30 minutes by default), and Lost tells
// the caller to stop.

// useSocket records the socket of the connection the run's method took (nil: none).
func (r *Run) useSocket(s net.Conn) {
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	r.sock = s
}

// endStatement closes the socket of the connection the run's method is using, if any.
func (r *Run) endStatement() {
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	if r.sock != nil {
		_ = r.sock.Close()
	}
}
