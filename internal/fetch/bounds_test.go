package fetch

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// The text an answer puts into an error is capped however it comes: a huge Content-Type header
// (described when a 2xx body is not JSON, or with a non-JSON error body) and Go's transport errors,
// which quote a malformed header line whole.
func TestHeaderAndTransportErrorTextCapped(t *testing.T) {
	huge := strings.Repeat("x", 2<<20)
	for _, tc := range []struct {
		name string
		api  http.Handler
	}{
		{"content type of a 2xx non-JSON answer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; "+huge)
			_, _ = w.Write([]byte("<html>gateway</html>"))
		})},
		{"content type of an error answer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; "+huge)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("<html>bad</html>"))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, AuthAKSK, tc.api, func(c *Config) { c.MaxAttempts = 1 })
			_, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 10})
			if err == nil {
				t.Fatal("no error")
			}
			if n := len(err.Error()); n > MaxErrorMessage+1024 {
				t.Errorf("error text is %d bytes, want at most about %d", n, MaxErrorMessage)
			}
		})
	}

	t.Run("malformed header line", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 64<<10)
					_, _ = c.Read(buf) // the request
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + huge + "\r\n\r\n{}"))
				}()
			}
		}()
		h := newHarness(t, AuthAKSK, http.NotFoundHandler(), func(c *Config) {
			c.MaxAttempts = 1
			c.Endpoint = "http://" + ln.Addr().String()
		})
		_, err = h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 10})
		if err == nil || !strings.Contains(err.Error(), "malformed MIME header") {
			t.Fatalf("error %v, want Go's malformed MIME header", err)
		}
		if n := len(err.Error()); n > MaxErrorMessage+1024 {
			t.Errorf("error text is %d bytes, want at most about %d", n, MaxErrorMessage)
		}
	})
}

// An IAM answer that echoes the password right where its message is cut shows none of it: the
// password is replaced before the cut.
func TestPasswordScrubbedBeforeTheCut(t *testing.T) {
	for _, pad := range []int{MaxErrorMessage - 6, MaxErrorMessage - 10, 60, 100} {
		h := newHarness(t, AuthToken, &fakeJobs{n: 1}, nil)
		h.iam.fail = func(w http.ResponseWriter, n int) bool {
			msg := strings.Repeat("a", pad) + testPassword + " is wrong"
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":401,"message":"` + msg + `"}}`))
			return true
		}
		_, err := h.client.ListPage(context.Background(), Query{Page: 1, PerPage: 10})
		if err == nil {
			t.Fatal("no error")
		}
		if part := testPassword[:5]; strings.Contains(err.Error(), part) {
			t.Errorf("pad %d: the error shows part of the password (%q): ...%s", pad, part, err.Error()[max(0, len(err.Error())-200):])
		}
	}
}
