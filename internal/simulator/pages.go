package simulator

// What a gateway answers instead of the API: HTML pages, a reset connection, an answer held back
// so that the fault layer can change it.

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
)

// bufferedAnswer captures an answer so that the fault layer can change it.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }

func (b *bufferedAnswer) WriteHeader(code int) { b.status = code }

func (b *bufferedAnswer) Write(p []byte) (int, error) { return b.body.Write(p) }

// resetConnection drops the connection with a TCP RST and no answer.
func resetConnection(w http.ResponseWriter) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = 0 // no answer: see RequestLog.Status
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream instead
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST, not FIN
	}
	_ = conn.Close()
}

func writeHTML(w http.ResponseWriter, status int, page string) {
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("X-Request-Id", randomHex(16))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// gatewayPage is the HTML error page of an nginx-based gateway.
func gatewayPage(status int) string {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}
