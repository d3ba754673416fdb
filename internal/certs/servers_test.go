package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/quic-go/quic-go"
)

// echoServers is a TLS-over-TCP and a QUIC listener that echo what their
// clients send, with the TLS configurations under test.
type echoServers struct {
	tcp, quic string // addresses
}

// startEchoServers listens on loopback ports (for TCP on tcpLn if not nil);
// everything is closed and waited for when t ends.
func startEchoServers(t *testing.T, tcpLn net.Listener, tcpConf, quicConf *tls.Config) echoServers {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var closers []io.Closer
	track := func(c io.Closer) {
		mu.Lock()
		closers = append(closers, c)
		mu.Unlock()
	}

	if tcpLn == nil {
		var err error
		if tcpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	tln := tls.NewListener(tcpLn, tcpConf)
	// A Transport of our own, closed at the end: one made by ListenAddr
	// keeps its socket until its last connection finished closing.
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tln.Close()
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	qln, err := tr.Listen(quicConf, nil)
	if err != nil {
		tln.Close()
		tr.Close()
		udp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		tln.Close()
		mu.Lock()
		for _, c := range closers {
			c.Close()
		}
		mu.Unlock()
		qln.Close()
		tr.Close()
		udp.Close()
		wg.Wait()
	})

	wg.Go(func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	wg.Go(func() {
		for {
			c, err := qln.Accept(ctx)
			if err != nil {
				return
			}
			track(quicCloser{c})
			wg.Go(func() {
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Go(func() {
						io.Copy(s, s)
						s.Close()
					})
				}
			})
		}
	})
	return echoServers{tcp: tln.Addr().String(), quic: qln.Addr().String()}
}

// quicCloser closes a QUIC connection.
type quicCloser struct{ c *quic.Conn }

func (q quicCloser) Close() error { return q.c.CloseWithError(0, "") }

// dialTLS makes a TLS connection over TCP to addr, trusting roots, and
// checks that it echoes; t closes it.
func dialTLS(t *testing.T, addr, serverName string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: serverName})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	echoTLS(t, c)
	return c
}

// echoTLS checks that c carries data both ways.
func echoTLS(t *testing.T, c *tls.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo over TLS: %q, %v", b, err)
	}
}

// dialQUIC makes a QUIC connection to addr with ALPN "test", trusting
// roots, and checks that it echoes; t closes it.
func dialQUIC(t *testing.T, addr, serverName string, roots *x509.CertPool) *quic.Conn {
	t.Helper()
	c, err := quic.DialAddr(context.Background(), addr,
		&tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"test"}}, nil)
	if err != nil {
		t.Fatalf("QUIC dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.CloseWithError(0, "") })
	echoQUIC(t, c)
	return c
}

// echoQUIC checks that a new stream on c carries data both ways.
func echoQUIC(t *testing.T, c *quic.Conn) {
	t.Helper()
	s, err := c.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "ping" {
		t.Fatalf("echo over QUIC: %q, %v", b, err)
	}
}

// tlsLeaf and quicLeaf return the certificate a connection's server sent.
func tlsLeaf(c *tls.Conn) *x509.Certificate { return c.ConnectionState().PeerCertificates[0] }

func quicLeaf(c *quic.Conn) *x509.Certificate {
	return c.ConnectionState().TLS.PeerCertificates[0]
}
