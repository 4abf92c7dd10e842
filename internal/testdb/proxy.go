package testdb

import (
	"cmp"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy a test puts between its connection pool and PostgreSQL, to drop connections
// on command: CutAll is a network failure or a server restart as the client sees it (every session
// ends, so the server also releases their locks and rolls back their transactions), Refuse keeps the
// server "down" for new connections until it is switched off.
type Proxy struct {
	ln      net.Listener
	network string // "tcp", or "unix" for a server reached through its socket
	target  string

	mu       sync.Mutex
	pairs    map[*pair]struct{}
	refuse   bool
	accepted int
	cuts     int
	closed   bool
	frozen   chan struct{} // non-nil while frozen; closed when thawed
	wg       sync.WaitGroup
}

type pair struct{ client, server net.Conn }

// NewProxy starts a proxy on 127.0.0.1 to the server of databaseURL (a postgres:// URL) and returns
// it with the same URL pointing at the proxy. The proxy stops when the test ends.
func NewProxy(t testing.TB, databaseURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("testdb: NewProxy needs a postgres:// URL: %v", err)
	}
	q := u.Query()
	socketDir := q.Get("host") // a Unix socket's directory, as libpq reads it (see configURL)
	if (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && !strings.HasPrefix(socketDir, "/") {
		t.Fatalf("testdb: NewProxy needs a postgres:// URL with a host or a Unix socket directory")
	}
	network, target := "tcp", u.Host
	switch {
	case u.Host == "":
		network, target = "unix", filepath.Join(socketDir, ".s.PGSQL."+cmp.Or(q.Get("port"), "5432"))
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
	case u.Port() == "":
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testdb: proxy: %v", err)
	}
	p := &Proxy{ln: ln, network: network, target: target, pairs: make(map[*pair]struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial(p.network, p.target)
	if err != nil {
		reset(client)
		return
	}
	pr := &pair{client: client, server: server}
	p.mu.Lock()
	if p.closed || p.refuse {
		p.mu.Unlock()
		reset(client)
		server.Close()
		return
	}
	p.pairs[pr] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.gate() // a frozen network delivers nothing
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done   // either side ended: end both ...
	p.gate() // ... unless the network is frozen: then the other side hears nothing
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}

// CutAll drops every open connection at once, with a reset towards the client, and returns how many
// it dropped.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.pairs)
	for pr := range p.pairs {
		reset(pr.client)
		pr.server.Close()
	}
	p.cuts += n
	return n
}

// Refuse makes the proxy drop every new connection at once while on is true, as a server that is
// down or restarting does.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// Freeze stops every byte, and every close, from crossing the proxy while on is true, as a network
// that went silent: both ends keep their connections, their kernels acknowledge what their peer sent
// before, and nothing more arrives. Freeze(false) delivers what was held.
func (p *Proxy) Freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.frozen == nil:
		p.frozen = make(chan struct{})
	case !on && p.frozen != nil:
		close(p.frozen)
		p.frozen = nil
	}
}

// gate waits while the proxy is frozen.
func (p *Proxy) gate() {
	p.mu.Lock()
	ch := p.frozen
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// Open is the number of connections open through the proxy.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// Accepted is the number of connections the proxy accepted, refused ones included.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.Freeze(false)
	_ = p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

// reset closes c with a TCP RST where it can, as a dropped connection looks to its peer.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
