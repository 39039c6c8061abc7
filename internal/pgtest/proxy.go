package pgtest

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a PostgreSQL server, for
// tests of what a client does when the server becomes unreachable while
// the server itself stays up: [Proxy.Cut] breaks every connection and
// refuses new ones, [Proxy.Stall] holds every byte as a network partition
// does, and [Proxy.Restore] ends either. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string // host:port of the server
	url    string // the server's URL with the proxy's address

	mu      sync.Mutex
	state   proxyState
	changed chan struct{} // closed and replaced on every change of state
	conns   map[*proxyConn]struct{}
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
}

type proxyState int

const (
	proxyOpen proxyState = iota
	proxyStalled
	proxyCut
	proxyClosed
)

// proxyConn is one client's connection and, once dialled, its connection
// to the server.
type proxyConn struct {
	client, server net.Conn // server: nil until dialled
	dead           bool     // closed by Cut or Close
}

// NewProxy starts a proxy on a free port of 127.0.0.1 to the server of
// connURL (a postgres:// URL, such as [Start]'s or [Server.URL]), and
// closes it when t ends.
func NewProxy(t testing.TB, connURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil || u.Host == "" {
		t.Fatalf("pgtest: proxy: want a postgres:// URL with a host; got %s", redact(connURL))
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	u.Host = ln.Addr().String()
	p := &Proxy{ln: ln, target: target, url: u.String(),
		changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the server's URL with the proxy's address in place of the
// server's.
func (p *Proxy) URL() string { return p.url }

// Addr is the proxy's address, 127.0.0.1:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Conns is the number of client connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut resets every connection through the proxy (both sides see a TCP
// reset) and resets every new one at once, until [Proxy.Restore]: the
// server is down, as the client sees it.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == proxyClosed {
		return
	}
	p.setState(proxyCut)
	for pc := range p.conns {
		pc.kill()
	}
}

// Stall stops forwarding, until [Proxy.Restore]: connections, open and
// new, stay open, but no byte goes through in either direction, as across
// a network partition, so clients wait until their own timeouts.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != proxyClosed {
		p.setState(proxyStalled)
	}
}

// Restore ends [Proxy.Cut] or [Proxy.Stall]: stalled bytes go through, and
// new connections reach the server again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != proxyClosed {
		p.setState(proxyOpen)
	}
}

// Close closes the proxy and every connection through it, and returns
// once its goroutines have exited. It is idempotent; [NewProxy] has it run
// when the test ends.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.state != proxyClosed {
		p.setState(proxyClosed)
		close(p.done)
		p.ln.Close()
		for pc := range p.conns {
			pc.kill()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// setState changes the state and wakes every waiter. p.mu is held.
func (p *Proxy) setState(s proxyState) {
	p.state = s
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		switch p.state {
		case proxyClosed:
			c.Close()
		case proxyCut:
			reset(c)
		default:
			pc := &proxyConn{client: c}
			p.conns[pc] = struct{}{}
			p.wg.Add(1)
			go p.serve(pc)
		}
		p.mu.Unlock()
	}
}

// serve dials the server for pc once the proxy is open, then copies bytes
// both ways until either side ends or pc is killed.
func (p *Proxy) serve(pc *proxyConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		pc.kill()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	if !p.wait(pc) {
		return
	}
	// A dial on loopback ends at once; the timeout bounds Close's wait
	// for a server elsewhere.
	d := net.Dialer{Timeout: 5 * time.Second}
	server, err := d.Dial("tcp", p.target)
	if err != nil {
		return // the client sees its connection closed
	}
	p.mu.Lock()
	if pc.dead {
		p.mu.Unlock()
		server.Close()
		return
	}
	pc.server = server
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pipe(pc, server, pc.client)
	}()
	p.pipe(pc, pc.client, server)
	wg.Wait()
}

// pipe copies src to dst, holding each chunk while the proxy is stalled,
// and kills pc when either side ends.
func (p *Proxy) pipe(pc *proxyConn, dst, src net.Conn) {
	defer func() {
		p.mu.Lock()
		pc.kill()
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(pc) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is stalled, and reports whether pc may go
// on: false once pc is dead or the proxy cut or closed.
func (p *Proxy) wait(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		state, dead, changed := p.state, pc.dead, p.changed
		p.mu.Unlock()
		switch {
		case dead || state == proxyCut || state == proxyClosed:
			return false
		case state == proxyOpen:
			return true
		}
		<-changed
	}
}

// kill resets both of pc's connections. p.mu is held.
func (pc *proxyConn) kill() {
	if pc.dead {
		return
	}
	pc.dead = true
	reset(pc.client)
	if pc.server != nil {
		reset(pc.server)
	}
}

// reset closes c with a TCP reset rather than a FIN, as a failed server or
// network does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
