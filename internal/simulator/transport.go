package simulator

import (
	"net/http"
	"net/http/httptest"
)

// InMemory is an http.RoundTripper that serves each request with h (a simulator's Handler, or a
// test's own) in the calling goroutine, without sockets: a client built on it runs whole (signing,
// tokens, retries, body limits, decoding) against the simulator at a fraction of the CPU of a
// loopback connection, and inside a testing/synctest bubble. Faults that need a connection (resets)
// do not apply: serve those over a listener.
func InMemory(h http.Handler) http.RoundTripper { return inMemory{h} }

type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}
